import Foundation
import Testing
import TritCore

/// Issue 23, classes 5 and 6, through the real `tritbench` binary: every numeric option is
/// range-checked, every list option checked against its registry, and an output that resolves
/// to an input refused, each before any work, with exit status 64 (usage) and a message naming
/// the option, the value and what was expected.
@Suite("bad input: command line")
struct CommandLineValidationTests {
    /// The binary built beside these tests (`swift build --build-tests` builds it too).
    static let binary: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let bin = Bundle.main.bundleURL.deletingLastPathComponent()   // .build/<config>/ when run by swift test
        for candidate in [bin.appendingPathComponent("tritbench").path, root.appendingPathComponent(".build/release/tritbench").path]
        where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return root.appendingPathComponent(".build/release/tritbench").path
    }()

    static func run(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["TRITBENCH_CACHE"] = FileManager.default.temporaryDirectory.appendingPathComponent("tb-cli-cache-\(getpid())").path
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    @Test func numericAndListOptionsAreRangeChecked() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build tritbench first: \(Self.binary)")
        let cases: [([String], [String])] = [
            (["eval", "--limit=-1"], ["--limit", "at least 1", "-1"]),
            (["eval", "--threads", "10000"], ["'10000'", "--threads", "1-256"]),
            (["eval", "--threads", "0"], ["'0'", "--threads", "1-256"]),
            (["eval", "--max-tokens", "0"], ["--max-tokens", "at least 1"]),
            (["eval", "--ctx", "1"], ["--ctx", "2...1048576", "got 1"]),
            (["eval", "--ctx", "64", "--stride", "65"], ["--stride", "1...64", "got 65"]),
            (["eval", "--tasks", "piqa,chess"], ["--tasks", "unknown 'chess'", "known: piqa"]),
            (["tune", "--shapes", "64x64", "--budget=-1"], ["--budget", "at least 1", "-1"]),
            (["tune", "--shapes", "64x64", "--time=-5"], ["--time", "finite", "-5"]),
            (["tune", "--shapes", "64x64", "--time", "nan"], ["--time", "finite", "nan"]),
            (["tune", "--shapes", "64x64", "--threads", "1,0"], ["--threads", "1...256", "got 0"]),
            (["tune", "--shapes", "64x64", "--variants", "simd,warp9"], ["--variants", "unknown 'warp9'", "known: scalar"]),
            (["tune", "--shapes", "64x64", "--formats", "3bit"], ["--formats", "'3bit'", "2plane-base3-lut"]),
            (["tune", "--shapes", "64x64", "--variants", "lut", "--formats", "2bit"], ["--formats", "none of --variants lut runs 2bit"]),
            (["tune", "--shapes=-4x64"], ["--shapes", "'-4x64'", "ROWSxK"]),
            (["tune", "--shapes", "64x64", "--strategy", "guess"], ["--strategy", "unknown 'guess'", "halving"]),
            (["kernels", "bench", "--shape", "64x64", "--variants", "nope"], ["--variants", "unknown 'nope'"]),
            (["kernels", "bench", "--shape", "64x64", "--threads", "0"], ["--threads", "'0'", "1-256"]),
            (["kernels", "bench", "--shape", "64x64", "--formats", "2bit:3"], ["--formats", "'2bit:3'"]),
            (["kernels", "bench", "--shape", "64x64", "--formats", "2bit:2"], ["--formats: 2bit holds exactly 1 plane, not 2"]),
            (["kernels", "bench", "--shape", "64x64", "--group-size", "100"], ["--group-size", "multiple of 128", "100"]),
            (["kernels", "bench", "--shape", "64x64", "--config", "rowBlock"], ["--config", "'rowBlock'"]),
            (["kernels", "bench", "--shape", "1048576x1048576"], ["needs about", "MiB", "more than 80%"]),
            (["profile", "--shape", "0x16"], ["--shape", "'0x16'"]),
            (["profile", "--tokens", "0"], ["--tokens", "1...4096", "got 0"]),
            (["roofline", "--threads", "0"], ["--threads", "1...256", "got 0"]),
            (["regress", "--out", "x", "--calls", "0"], ["--calls", "1...100000", "got 0"]),
            (["compare", "a", "b", "--alpha", "2"], ["--alpha", "finite number", "got 2.0"]),
            (["run", "--run-id", "../../etc"], ["--run-id '../../etc'", "contains '/'"]),
            (["run", "--run-id", ""], ["--run-id ''", "empty"]),
            (["quantize", "--matrix", "w.npy", "--method", "absmean", "--threads", "0"], ["--threads", "1...256", "got 0"]),
            (["quantize", "--matrix", "w.npy", "--method", "magic"], ["unknown method 'magic'", "expected one of", "absmean"]),
            (["quantize", "--matrix", "w.npy", "--method", "absmean", "--param", "group=-1"], ["group=-1", "expected an integer"]),
            (["quantize", "--matrix", "w.npy", "--method", "absmean", "--param", "colour=red"], ["no parameter 'colour'", "allowed"]),
            (["profile", "--kernel", "warp9"], ["--kernel \"warp9\"", "unknown; available", "simd"]),
            (["train", "--method", "tequila", "--tokens", "0"], ["--tokens", "1...", "got 0"]),
            (["train", "--method", "tequila", "--tokens", "8", "--batch", "0"], ["--batch", "1...4096", "got 0"]),
        ]
        for (args, needles) in cases {
            let (status, out) = try Self.run(args)
            #expect(status == 64, "\(args): exit \(status)\n\(out)")
            for n in needles { #expect(out.contains(n), "\(args): '\(n)' missing from\n\(out)") }
            #expect(!out.contains("Fatal error") && !out.contains("Illegal instruction"), "\(args): \(out)")
        }
    }

    /// Option values the tool echoes in its own messages reach the terminal without control
    /// characters (ESC, CR): a value cannot repaint the terminal or hide the line before it.
    @Test func echoedOptionValuesCarryNoControlCharacters() throws {
        let hostile = "\u{1B}[2J\r"
        for args in [["kernels", "bench", "--shape", "64x64" + hostile], ["tune", "--shapes", "64x64" + hostile],
                     ["quantize", "--matrix", "w.npy", "--method", hostile + "magic"], ["profile", "--kernel", hostile + "warp9"]] {
            let (status, out) = try Self.run(args)
            #expect(status == 64, "\(args): exit \(status)\n\(out)")
            #expect(!out.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\r" }, "\(args): \(out.debugDescription)")
        }
    }

    @Test func anOutputThatIsAnInputIsRefusedBeforeAnyWork() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-cli-alias-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let model = dir + "/model.gguf"
        let original = Data("GGUF not really a model".utf8)
        #expect(FileManager.default.createFile(atPath: model, contents: original))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.gguf", withDestinationPath: model)
        #expect(FileManager.default.createFile(atPath: dir + "/w.npy", contents: Data("x".utf8)))
        let cases: [([String], String, String)] = [
            (["quantize", "--model", model, "--method", "absmean", "--out", model], "--out \(model)", "--model \(model)"),
            (["quantize", "--model", model, "--method", "absmean", "--out", dir + "/link.gguf"], "--out \(dir)/link.gguf", "--model"),
            (["quantize", "--model", model, "--method", "absmean", "--out", dir + "/sub/../model.gguf"], "sub/../model.gguf", "--model"),
            (["quantize", "--matrix", dir + "/w.npy", "--method", "absmean", "--dequant-out", dir + "/w.npy"], "--dequant-out", "--matrix"),
            (["eval", "--model", model, "--ppl", "lambada", "--write-ppl-text", dir + "/link.gguf"], "--write-ppl-text", "--model"),
            (["train", "--method", "tequila", "--tokens", "8", "--model", dir + "/link.gguf", "--out", model], "--out", "--model"),
        ]
        for (args, output, input) in cases {
            let (status, out) = try Self.run(args)
            #expect(status == 64, "\(args): exit \(status)\n\(out)")
            #expect(out.contains(output) && out.contains(input) && out.contains("is the same file as") && out.contains("overwrite the input"), "\(out)")
            #expect(FileManager.default.contents(atPath: model) == original)
        }
    }
}
