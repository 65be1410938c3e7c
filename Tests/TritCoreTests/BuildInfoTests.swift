import Foundation
import Testing
import TritCore

/// The package root, from this file's path (Tests/TritCoreTests/BuildInfoTests.swift).
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs Scripts/build-stamp.sh --hash-only over `files` (relative to `root`).
private func contentHash(root: String, files: [String]) throws -> String {
    let out = try #require(Shell.run("/bin/sh", [packageRoot + "/Scripts/build-stamp.sh", "--hash-only", root] + files))
    #expect(out.status == 0, "build-stamp.sh: \(out.stderr)")
    return out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The regular files under `root`/Kernels, relative to `root`, sorted (as the plugin lists them).
private func kernelFiles(root: String) throws -> [String] {
    let base = URL(fileURLWithPath: root + "/Kernels")
    let walker = try #require(FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]))
    var out: [String] = []
    for case let url as URL in walker where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
        out.append(String(url.standardizedFileURL.path.dropFirst(URL(fileURLWithPath: root).standardizedFileURL.path.count + 1)))
    }
    return out.sorted()
}

@Suite struct BuildInfoTests {
    /// The stamp is the content the binary was built from: the hash the build script gives for
    /// Kernels/ as it is now (the suite runs right after its build) equals the compiled-in one.
    @Test func stampIsTheContentOfKernelsAtBuildTime() throws {
        let info = BuildInfo.current()
        let files = try kernelFiles(root: packageRoot)
        #expect(files.count > 10 && files.allSatisfy { $0.hasPrefix("Kernels/") })
        let now = try contentHash(root: packageRoot, files: files)
        #expect(now.count == 64)
        #expect(info.kernelsContentHash == String(now.prefix(16)))
        #expect(info.compilerVersion.contains("Swift"), "\(info.compilerVersion)")
    }

    /// The flags are Package.swift's, one entry per kernel target; on x86-64 each target has its
    /// ISA flags and only the AVX-512 targets have AVX-512 ones.
    @Test func kernelFlagsComeFromThePackageManifest() {
        let flags = BuildInfo.current().kernelFlags
        #if arch(x86_64)
        let byTarget = Dictionary(uniqueKeysWithValues: flags.map { entry -> (String, [String]) in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : [])
        })
        #expect(Set(byTarget.keys) == ["TritKernelsAVX2", "TritKernelsAVX512", "TritKernelsVBMI"])
        #expect(byTarget["TritKernelsAVX2"]?.contains("-mavx2") == true)
        #expect(byTarget["TritKernelsAVX2"]?.contains { $0.hasPrefix("-mavx512") } == false)
        #expect(byTarget["TritKernelsAVX512"]?.contains("-mavx512vnni") == true)
        #expect(byTarget["TritKernelsVBMI"]?.contains("-mavx512vbmi") == true)
        #else
        #expect(flags.isEmpty)
        #endif
    }

    /// An uncommitted edit to one kernel file, an added file and a removed one each change the
    /// content hash; the same content gives the same hash wherever it sits.
    @Test func anyKernelEditChangesTheContentHash() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tb-stamp-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: packageRoot + "/Kernels", toPath: tmp + "/Kernels")
        let files = try kernelFiles(root: tmp)
        let original = try contentHash(root: tmp, files: files)
        #expect(original == (try contentHash(root: packageRoot, files: files)))

        let edited = tmp + "/" + files[files.count / 2]
        let handle = try #require(FileHandle(forWritingAtPath: edited))
        handle.seekToEndOfFile(); handle.write(Data("\n// an uncommitted edit\n".utf8)); handle.closeFile()
        let afterEdit = try contentHash(root: tmp, files: files)
        #expect(afterEdit != original)

        try AtomicFile.write("// new\n", to: tmp + "/Kernels/New.swift")
        let added = try contentHash(root: tmp, files: try kernelFiles(root: tmp))
        #expect(added != afterEdit)
        #expect(try contentHash(root: tmp, files: Array(files.dropLast())) != afterEdit)
    }
}
