/// The packed storage formats a ternary layer can be turned into. Raw values are the names used
/// on the command line, in tuning caches and in result files.
public enum PackedFormatKind: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// 2-bit codes w+1 in {0,1,2}, I2_S/TQ2_0 style (one plane).
    case twoBit = "2bit"
    /// Base-3, 5 trits per byte, 1.6 bpw, TQ1_0 style (one plane).
    case base3 = "base3"
    /// Bitmask planes (+1 mask, −1 mask); one or two trit planes.
    case bitmask = "bitmask"
    /// T-MAC style bit-planes grouped for vpshufb table lookups (one plane).
    case lut = "lut"
    /// PTQTP two trit-planes packed at 3.2 bpw (2 × base-3).
    case twoPlane = "2plane-base3"
    /// PTQTP two trit-planes as plain 2 × 2-bit codes (4 bpw), for comparison.
    case twoPlane2Bit = "2plane-2bit"
    /// Base-3 bytes (5 trits, 1.6 bpw) in 64-row interleaved tiles for 243-entry table lookups
    /// (one plane).
    case base3LUT = "base3-lut"
    /// PTQTP two trit-planes in the base-3 lookup layout (3.2 bpw; both planes index the same tables).
    case twoPlaneBase3LUT = "2plane-base3-lut"

    /// How many trit planes the format holds; `nil` when it holds one or two.
    public var requiredPlanes: Int? {
        switch self {
        case .twoBit, .base3, .lut, .base3LUT: return 1
        case .twoPlane, .twoPlane2Bit, .twoPlaneBase3LUT: return 2
        case .bitmask: return nil
        }
    }

    /// The raw name ("2bit"), so that interpolating a format prints what the command line takes.
    public var description: String { rawValue }
}
