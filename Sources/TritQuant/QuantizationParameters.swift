import Foundation

/// Reads a method's `key=value` parameters with defaults, checking each value and rejecting keys
/// the method does not have, and remembers every resolved value for the report.
///
/// A method's initialiser reads all its keys through one of these and calls `finish()`, so a
/// typo (`grup=64`) is an error naming the allowed keys instead of a silently ignored option.
public struct QuantizationParameters {
    public let method: String
    private let given: [String: String]
    private var known: [String] = []
    public private(set) var resolved: [String: String] = [:]

    public init(method: String, _ given: [String: String]) {
        self.method = method
        self.given = given
    }

    /// Parses command-line items of the form `key=value`.
    public static func parse(_ items: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw QuantizationError.malformedParameter(text: item)
            }
            out[String(item[..<eq]).trimmingCharacters(in: .whitespaces)] =
                String(item[item.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    private mutating func raw(_ key: String) -> String? {
        known.append(key)
        return given[key]
    }

    private func bad(_ key: String, _ value: String, _ expected: String) -> QuantizationError {
        .badParameter(method: method, key: key, value: value, expected: expected)
    }

    public mutating func int(_ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = raw(key) else { resolved[key] = String(d); return d }
        guard let v = Int(text), range.contains(v) else {
            throw bad(key, text, "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        resolved[key] = String(v)
        return v
    }

    public mutating func double(_ key: String, default d: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let text = raw(key) else { resolved[key] = "\(d)"; return d }
        guard let v = Double(text), v.isFinite, range.contains(v) else {
            throw bad(key, text, "a number in \(range.lowerBound)...\(range.upperBound)")
        }
        resolved[key] = "\(v)"
        return v
    }

    public mutating func choice(_ key: String, default d: String, allowed: [String]) throws -> String {
        guard let text = raw(key) else { resolved[key] = d; return d }
        guard allowed.contains(text) else { throw bad(key, text, "one of \(allowed.joined(separator: ", "))") }
        resolved[key] = text
        return text
    }

    public mutating func flag(_ key: String, default d: Bool) throws -> Bool {
        guard let text = raw(key) else { resolved[key] = d ? "on" : "off"; return d }
        switch text.lowercased() {
        case "on", "true", "1", "yes": resolved[key] = "on"; return true
        case "off", "false", "0", "no": resolved[key] = "off"; return false
        default: throw bad(key, text, "on or off")
        }
    }

    /// Throws for any given key the method did not read.
    public func finish() throws {
        for key in given.keys.sorted() where !known.contains(key) {
            throw QuantizationError.unknownParameter(method: method, key: key, allowed: known)
        }
    }
}
