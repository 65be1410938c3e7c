import Foundation

/// How this binary was built and from which revision: every result file carries it.
public struct BuildInfo: Codable, Equatable, Sendable {
    public var configuration: String
    public var swiftVersion: String
    /// Compiler flags of the kernel targets (see Package.swift).
    public var kernelFlags: [String]
    public var gitRevision: String
    public var gitDirty: Bool
    /// Git tree hash of `Kernels/` at HEAD ("unknown" outside a checkout): changes exactly when
    /// kernel code changes, so tuning records of older kernels are not reused.
    public var kernelsTree: String

    enum CodingKeys: String, CodingKey { case configuration, swiftVersion, kernelFlags, gitRevision, gitDirty, kernelsTree }

    public init(configuration: String, swiftVersion: String, kernelFlags: [String], gitRevision: String, gitDirty: Bool,
                kernelsTree: String) {
        self.configuration = configuration; self.swiftVersion = swiftVersion; self.kernelFlags = kernelFlags
        self.gitRevision = gitRevision; self.gitDirty = gitDirty; self.kernelsTree = kernelsTree
    }

    /// `kernelsTree` was added after schema 1 files were first written: older files read as "unknown".
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        configuration = try c.decode(String.self, forKey: .configuration)
        swiftVersion = try c.decode(String.self, forKey: .swiftVersion)
        kernelFlags = try c.decode([String].self, forKey: .kernelFlags)
        gitRevision = try c.decode(String.self, forKey: .gitRevision)
        gitDirty = try c.decode(Bool.self, forKey: .gitDirty)
        kernelsTree = try c.decodeIfPresent(String.self, forKey: .kernelsTree) ?? "unknown"
    }

    /// Where the revision is read: the checkout the running executable sits in (it is built
    /// into `.build/` of that checkout), else the working directory. Reading the working
    /// directory alone gave a tool run from elsewhere another build's identity (or none), and
    /// with it silently no tuned kernels, whose records are keyed by the Kernels/ tree.
    public static var sourceDirectory: String {
        let cwd = FileManager.default.currentDirectoryPath
        guard let exe = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path,
              let top = Shell.run("/usr/bin/env", ["git", "-C", exe, "rev-parse", "--show-toplevel"]), top.status == 0 else { return cwd }
        return top.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func current(directory: String = sourceDirectory) -> BuildInfo {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        #if arch(x86_64)
        let flags = ["-mavx2", "-mfma", "-mbmi2", "-mf16c"]
        #else
        let flags: [String] = []
        #endif
        let rev = Shell.run("/usr/bin/env", ["git", "-C", directory, "rev-parse", "HEAD"])
        let status = Shell.run("/usr/bin/env", ["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"])
        let tree = Shell.run("/usr/bin/env", ["git", "-C", directory, "rev-parse", "HEAD:Kernels"])
        return BuildInfo(configuration: configuration, swiftVersion: swiftCompilerVersion,
                         kernelFlags: flags,
                         gitRevision: rev?.status == 0 ? rev!.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "unknown",
                         gitDirty: status.map { $0.status == 0 && !$0.stdout.isEmpty } ?? false,
                         kernelsTree: tree?.status == 0 ? String(tree!.stdout.trimmingCharacters(in: .whitespacesAndNewlines).prefix(12)) : "unknown")
    }

    /// The compiler version this binary was built with, from compile-time conditions.
    public static var swiftCompilerVersion: String {
        #if compiler(>=6.4)
        return ">=6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #elseif compiler(>=6.0)
        return "6.0"
        #else
        return "<6.0"
        #endif
    }
    public var swiftCompilerVersion: String { Self.swiftCompilerVersion }
}

/// Runs a subprocess and captures its output (for git, uname, valgrind and similar).
public enum Shell {
    public struct Output: Sendable { public var status: Int32; public var stdout: String; public var stderr: String }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) -> Output? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return nil }
        // Read both pipes before waiting so a chatty child cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return Output(status: p.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
