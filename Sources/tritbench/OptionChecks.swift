import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritModel

/// The most worker threads any command accepts: each thread holds scratch buffers (and `eval`
/// a model replica's KV cache), so an unbounded count ends in a failed allocation, not a run.
let maximumThreads = 256

/// A thread count, 1...`maximumThreads`, checked where the argument is parsed.
struct ThreadCount: ExpressibleByArgument, Equatable, CustomStringConvertible {
    let value: Int
    init(_ value: Int) { self.value = value }
    init?(argument: String) {
        guard let v = Int(argument), (1...maximumThreads).contains(v) else { return nil }
        value = v
    }
    var description: String { "\(value)" }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// Range checks for numeric options, each failing with the option's name, the value given and
/// the allowed range (swift-argument-parser prints a `ValidationError` with the usage line).
enum OptionCheck {
    static func range<T: Comparable>(_ option: String, _ value: T, _ allowed: ClosedRange<T>) throws {
        guard allowed.contains(value) else {
            throw ValidationError("--\(option) must be in \(allowed.lowerBound)...\(allowed.upperBound); got \(value)")
        }
    }

    static func atLeast<T: Comparable>(_ option: String, _ value: T?, _ minimum: T) throws {
        guard let value else { return }
        guard value >= minimum else { throw ValidationError("--\(option) must be at least \(minimum); got \(value)") }
    }

    /// A finite floating-point value in `allowed`.
    static func finite(_ option: String, _ value: Double?, _ allowed: ClosedRange<Double>) throws {
        guard let value else { return }
        guard value.isFinite, allowed.contains(value) else {
            throw ValidationError("--\(option) must be a finite number in \(allowed.lowerBound)...\(allowed.upperBound); got \(value)")
        }
    }

    /// Names from a comma-separated list, each one of `known` (an unknown name is an error, never
    /// an empty selection).
    static func names(_ option: String, _ text: String, known: [String]) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ValidationError("--\(option) is empty; known: \(known.joined(separator: ", "))") }
        for i in items where !known.contains(i) {
            throw ValidationError("--\(option): unknown '\(TextEscaping.terminal(i))'; known: \(known.joined(separator: ", "))")
        }
        return items
    }

    /// Memory an allocation will need, checked against the machine before it is attempted.
    static func memory(_ what: String, bytes: Double, fraction: Double = 0.8) throws {
        let have = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes <= have * fraction else {
            throw ValidationError("\(what) needs about \(Int(bytes / Double(1 << 20))) MiB, more than \(Int(fraction * 100))% of this machine's \(Int(have / Double(1 << 20))) MiB")
        }
    }

    /// Refuses an output that is (or resolves to, through symbolic links, `..` or a hard link) one
    /// of the inputs, before any work: writing it would destroy the input.
    static func distinct(outputs: [(option: String, path: String?)], inputs: [(option: String, path: String?)]) throws {
        for (oName, oPath) in outputs {
            guard let oPath else { continue }
            for (iName, iPath) in inputs {
                guard let iPath, PathIdentity.same(oPath, iPath) else { continue }
                throw ValidationError("--\(oName) \(TextEscaping.terminal(oPath)) is the same file as --\(iName) \(TextEscaping.terminal(iPath)); writing it would overwrite the input. Choose another output path.")
            }
        }
    }
}
