import Foundation

/// Parameter values by name. Codable and Hashable so the tuner can cache and compare them.
public struct KernelConfiguration: Codable, Hashable, Sendable, CustomStringConvertible, Comparable {
    public var values: [String: Int]
    public init(_ values: [String: Int] = [:]) { self.values = values }

    /// Coded as the plain name → value object, the form tuning caches have always stored.
    public init(from decoder: Decoder) throws { values = try [String: Int](from: decoder) }
    public func encode(to encoder: Encoder) throws { try values.encode(to: encoder) }

    /// Ordered by `description`, so tables and strategies list configurations stably.
    public static func < (a: Self, b: Self) -> Bool { a.description < b.description }
    public subscript(_ name: String) -> Int? {
        get { values[name] }
        set { values[name] = newValue }
    }
    /// `name=value` pairs in name order.
    public var description: String { values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }

    /// Parses `description`'s form, e.g. "rowBlock=4,tokenBlock=1".
    public init(parsing text: String) throws {
        var v: [String: Int] = [:]
        for part in text.split(separator: ",") where !part.isEmpty {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let n = Int(kv[1].trimmingCharacters(in: .whitespaces)) else {
                throw KernelConfigurationError.malformed(text: text, part: String(part))
            }
            v[kv[0].trimmingCharacters(in: .whitespaces)] = n
        }
        values = v
    }
}

public enum KernelConfigurationError: Error, CustomStringConvertible, Equatable {
    case unknownParameter(variant: String, name: String, known: [String])
    case valueNotAllowed(variant: String, name: String, value: Int, allowed: [Int])
    case constraintViolated(variant: String, parameters: [String], rule: String, configuration: String)
    case malformed(text: String, part: String)

    public var description: String {
        switch self {
        case let .unknownParameter(v, n, k):
            return "kernel '\(v)': unknown parameter '\(n)' (known: \(k.joined(separator: ", ")))"
        case let .valueNotAllowed(v, n, value, allowed):
            return "kernel '\(v)': parameter '\(n)' = \(value) is not allowed (allowed: \(allowed.map(String.init).joined(separator: ", ")))"
        case let .constraintViolated(v, p, rule, c):
            return "kernel '\(v)': configuration {\(c)} breaks the constraint on \(p.joined(separator: ", ")): \(rule)"
        case let .malformed(text, part):
            return "kernel configuration '\(text)': '\(part)' is not name=integer"
        }
    }
}
