import CTritSupport
import Foundation

/// How this binary was built and from which source: every result file carries it, and tuning
/// records are keyed by it. Everything here is stamped at build time (Package.swift's kernel
/// flags; the TritBuildStamp target's generated stamp), never read from the checkout at run time:
/// a binary's identity is what it was compiled from, uncommitted edits included.
public struct BuildInfo: Codable, Equatable, Sendable {
    public var configuration: String
    /// The language version the compiler reports through `#if compiler` ("6.3").
    public var swiftVersion: String
    /// The first line of `swiftc --version` of the toolchain that built this binary.
    public var compilerVersion: String
    /// Each kernel target's clang flags, "TritKernelsAVX2=-mavx2 -mfma …", as Package.swift
    /// compiles it.
    public var kernelFlags: [String]
    public var gitRevision: String
    public var gitDirty: Bool
    /// SHA-256 (16 hex digits) over the content of every file under `Kernels/` at build time.
    /// It changes with any kernel edit, committed or not, so timings of other kernel code are
    /// never reused. Files written before the stamp hold "git-tree:<Kernels/ tree at HEAD>".
    public var kernelsContentHash: String

    enum CodingKeys: String, CodingKey {
        case configuration, swiftVersion, compilerVersion, kernelFlags, gitRevision, gitDirty, kernelsContentHash
    }
    /// Read only: the git tree hash of Kernels/ that files written before the stamp carry.
    private enum LegacyKeys: String, CodingKey { case kernelsTree }

    public init(configuration: String, swiftVersion: String, compilerVersion: String, kernelFlags: [String],
                gitRevision: String, gitDirty: Bool, kernelsContentHash: String) {
        self.configuration = configuration; self.swiftVersion = swiftVersion; self.compilerVersion = compilerVersion
        self.kernelFlags = kernelFlags; self.gitRevision = gitRevision; self.gitDirty = gitDirty
        self.kernelsContentHash = kernelsContentHash
    }

    /// Older result files: no `compilerVersion` ("unknown"); the kernels identified by their git
    /// tree (`kernelsTree`), or not at all ("unknown").
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        configuration = try c.decode(String.self, forKey: .configuration)
        swiftVersion = try c.decode(String.self, forKey: .swiftVersion)
        compilerVersion = try c.decodeIfPresent(String.self, forKey: .compilerVersion) ?? "unknown"
        kernelFlags = try c.decode([String].self, forKey: .kernelFlags)
        gitRevision = try c.decode(String.self, forKey: .gitRevision)
        gitDirty = try c.decode(Bool.self, forKey: .gitDirty)
        if let hash = try c.decodeIfPresent(String.self, forKey: .kernelsContentHash) {
            kernelsContentHash = hash
        } else if let tree = try decoder.container(keyedBy: LegacyKeys.self).decodeIfPresent(String.self, forKey: .kernelsTree) {
            kernelsContentHash = tree == "unknown" ? "unknown" : "git-tree:" + tree
        } else {
            kernelsContentHash = "unknown"
        }
    }

    /// This binary's identity, as stamped when it was built.
    public static func current() -> BuildInfo {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        return BuildInfo(configuration: configuration, swiftVersion: swiftCompilerVersion,
                         compilerVersion: String(cString: tritbench_stamp_compiler_version()),
                         kernelFlags: compiledKernelFlags,
                         gitRevision: String(cString: tritbench_stamp_git_revision()),
                         gitDirty: tritbench_stamp_git_dirty() != 0,
                         kernelsContentHash: String(String(cString: tritbench_stamp_kernels_content_hash()).prefix(16)))
    }

    /// The kernel targets' flags compiled in from Package.swift, one "Target=flags" per target.
    public static var compiledKernelFlags: [String] {
        String(cString: tritbench_kernel_flags()).split(separator: ";").map(String.init)
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
