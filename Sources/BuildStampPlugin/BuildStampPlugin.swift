import Foundation
import PackagePlugin

/// Generates `BuildStamp.swift` for the target it is applied to, by running
/// `Scripts/build-stamp.sh` whenever a file under `Kernels/`, the script, `Package.swift` or the
/// checkout's HEAD changes. The stamp is the key of every tuning record: reading the git tree at
/// run time instead kept the old key after an uncommitted kernel edit, and the tuner then reused
/// timings measured on other code.
@main
struct BuildStampPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let kernels = root.appendingPathComponent("Kernels")
        let script = root.appendingPathComponent("Scripts/build-stamp.sh")
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildStamp.swift")
        let files = try Self.regularFiles(under: kernels, relativeTo: root)
        // What moves the revision: HEAD, the branch it names (loose or packed) and the index
        // (the dirty flag). Absent files are left out; a checkout without .git stamps "unknown".
        let git = root.appendingPathComponent(".git")
        var gitInputs = ["HEAD", "index", "packed-refs"].map { git.appendingPathComponent($0) }
        if let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8),
           head.hasPrefix("ref: ") {
            gitInputs.append(git.appendingPathComponent(head.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        gitInputs = gitInputs.filter { FileManager.default.fileExists(atPath: $0.path) }
        let compiler = (try? context.tool(named: "swiftc").url.path) ?? "swiftc"
        return [.buildCommand(
            displayName: "Stamping the build identity (\(files.count) files under Kernels/, revision, compiler)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, root.path, output.path, compiler] + files,
            inputFiles: files.map { root.appendingPathComponent($0) } + gitInputs
                + [script, root.appendingPathComponent("Package.swift")],
            outputFiles: [output])]
    }

    /// Paths of the regular files under `directory`, relative to `root`, sorted: the order the
    /// content hash reads them in.
    static func regularFiles(under directory: URL, relativeTo root: URL) throws -> [String] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        let prefix = root.standardizedFileURL.path + "/"
        var out: [String] = []
        for case let url as URL in walker where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let path = url.standardizedFileURL.path
            out.append(path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path)
        }
        return out.sorted()
    }
}
