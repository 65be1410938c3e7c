/// One kernel problem: a variant on a packed format at one shape, token count and thread
/// count, timed hot (weights in cache) or cold (weights streaming from DRAM, as a model's decode
/// reads them: its other layers evict each layer's weights between two tokens). What the tuner
/// tunes, dispatch looks up, benchmarks measure and reports list: one type for all of them.
public struct KernelProblem: Codable, Hashable, Sendable, CustomStringConvertible {
    /// A `KernelRegistry` variant id.
    public var variant: String
    public var format: PackedFormatKind
    public var rows: Int
    public var cols: Int
    public var tokens: Int
    public var threads: Int
    /// Timed with the weights streaming from DRAM. A cold and a hot problem are different
    /// problems: the tuner never answers one from the other's records.
    public var cold: Bool

    public init(variant: String, format: PackedFormatKind, rows: Int, cols: Int, tokens: Int, threads: Int, cold: Bool = false) {
        self.variant = variant; self.format = format; self.rows = rows; self.cols = cols
        self.tokens = tokens; self.threads = threads; self.cold = cold
    }

    enum CodingKeys: String, CodingKey { case variant, format, rows, cols, tokens, threads, cold }

    /// Records written before `cold` existed were all timed hot: a missing key reads as false.
    /// The format is its raw name ("2bit"), as command lines and older files spell it.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(variant: try c.decode(String.self, forKey: .variant), format: try c.decode(PackedFormatKind.self, forKey: .format),
                  rows: try c.decode(Int.self, forKey: .rows), cols: try c.decode(Int.self, forKey: .cols),
                  tokens: try c.decode(Int.self, forKey: .tokens), threads: try c.decode(Int.self, forKey: .threads),
                  cold: try c.decodeIfPresent(Bool.self, forKey: .cold) ?? false)
    }

    public var shape: String { "\(rows)x\(cols)" }
    public var description: String { "\(variant)/\(format.rawValue) \(shape) tokens=\(tokens) threads=\(threads)\(cold ? " cold" : "")" }
}
