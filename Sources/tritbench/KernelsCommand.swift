import ArgumentParser
import Foundation
import TritCore
import TritKernels

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Ternary kernel variants: list them, verify them against the scalar reference.",
        subcommands: [KernelsListCommand.self, KernelsVerifyCommand.self])
}

struct KernelsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Each variant, the formats it runs on and its parameters.")

    @Flag(help: "Print JSON instead of text.") var json = false

    struct Entry: Encodable {
        let id: String, summary: String, formats: [String], parameters: [KernelParameter]
        let constraints: [String], configurations: Int
    }

    func run() throws {
        let entries = KernelRegistry.all.map { v in
            Entry(id: v.id, summary: v.summary, formats: v.formats.map(\.rawValue), parameters: v.space.parameters,
                  constraints: v.space.constraints.map(\.rule), configurations: v.space.allConfigurations.count)
        }
        if json { try printJSON(entries); return }
        let avx2 = CPUFeatures.current.supportsAVX2Kernels
        print("CPU: AVX2 kernels \(avx2 ? "available" : "NOT available: SIMD variants run their portable Swift SIMD loops")")
        for e in entries {
            print("\n\(e.id) — \(e.summary)")
            print("  formats: \(e.formats.joined(separator: ", "))")
            for p in e.parameters {
                print("  \(p.name.padding(toLength: 14, withPad: " ", startingAt: 0)) {\(p.allowed.map(String.init).joined(separator: ","))} default \(p.defaultValue): \(p.meaning)")
            }
            for c in e.constraints { print("  constraint: \(c)") }
            print("  valid configurations: \(e.configurations)")
        }
    }
}

struct KernelsVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Every variant × format × shape (tails included) against the scalar reference; non-zero exit on any mismatch.")

    @Flag(help: "Print JSON rows instead of the table.") var json = false
    @Flag(help: "Show every row, not only a summary per variant and format.") var all = false
    @Option(help: "Seed of the random weights and activations.") var seed: UInt64 = 42

    func run() throws {
        let rows: [KernelVerificationRow]
        do { rows = try KernelVerification.run(seed: seed) } catch { throw fail(error) }
        let failed = rows.filter { !$0.passed }
        if json {
            try printJSON(rows)
        } else {
            func cell(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            print("\(cell("variant", 14)) \(cell("format", 13)) \(cell("shape", 24)) \(cell("tok", 4)) \(cell("thr", 4)) \(cell("configs", 8)) \(cell("outputs", 9)) result")
            var keys: [String] = []
            var groups: [String: [KernelVerificationRow]] = [:]
            for r in rows {
                let key = all ? "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)|\(r.configuration)"
                              : "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)"
                if groups[key] == nil { keys.append(key) }
                groups[key, default: []].append(r)
            }
            for key in keys {
                let g = groups[key]!, r = g[0]
                let bad = g.filter { !$0.passed }
                let result = bad.isEmpty ? "bit-exact"
                    : "MISMATCH: \(bad.map(\.mismatches).reduce(0, +)) outputs, max |Δ| \(bad.map(\.maxAbsDifference).max()!) in {\(bad[0].configuration)}"
                print("\(cell(r.variant, 14)) \(cell(r.format, 13)) \(cell(r.shape, 24)) \(cell(String(r.tokens), 4)) \(cell(String(r.threads), 4)) \(cell(String(g.count), 8)) \(cell(String(g.map(\.outputs).reduce(0, +)), 9)) \(result)")
            }
            print("\n\(rows.count) checks, \(failed.count) mismatching")
        }
        if !failed.isEmpty {
            FileHandle.standardError.write(Data("error: \(failed.count) kernel checks differ from the scalar reference\n".utf8))
            throw ExitCode(1)
        }
    }
}
