import TritCore

/// The CPU features a variant's own loops need, named for notes and errors.
public struct NativeRequirement: Sendable {
    /// What the loops need, as a reader would say it ("AVX2 + FMA").
    public let name: String
    let isMet: @Sendable (CPUFeatures) -> Bool

    /// The AVX2 decode and multiply-add loops (with FMA, BMI2 and F16C).
    static let avx2 = NativeRequirement(name: "AVX2 + FMA", isMet: { $0.supportsAVX2Kernels })
    /// The 243-entry table lookups by `vpermi2b`.
    static let vbmiLookup = NativeRequirement(name: "AVX512-VBMI", isMet: { $0.supportsVBMILookup })
    /// Portable loops only: every CPU runs them as they are.
    static let anyCPU = NativeRequirement(name: "nothing beyond the baseline", isMet: { _ in true })
}

/// A kernel variant as the registry lists it: a stable id, the formats it runs on, and its
/// tunable parameters.
public struct KernelVariant: Sendable {
    public let id: String
    public let summary: String
    public let formats: [PackedFormatKind]
    public let space: ParameterSpace
    /// Scale-group sizes this variant handles: every group size, or multiples of this many
    /// columns (plus one group per row).
    public let groupMultiple: Int
    /// Whether the tuner measures it and dispatch may choose it. The scalar reference and the
    /// forced portable fallback exist to check and compare against, not to run models.
    public let isTuned: Bool
    /// What the variant's own loops need; on a CPU without it the variant runs the portable
    /// fallback every variant has (lut243 without AVX512-VBMI runs a Swift SIMD loop 1000×
    /// slower than its lookup loop), and the tuner leaves it out there.
    public let nativeRequirement: NativeRequirement
    /// Builds the loop over row tiles for one layer, configuration and CPU.
    let makeLoop: @Sendable (RowTileLoopContext) -> any RowTileLoop

    init(id: String, summary: String, formats: [PackedFormatKind], space: ParameterSpace, groupMultiple: Int,
         isTuned: Bool, runsNatively: NativeRequirement,
         makeLoop: @escaping @Sendable (RowTileLoopContext) -> any RowTileLoop) {
        self.id = id; self.summary = summary; self.formats = formats; self.space = space
        self.groupMultiple = groupMultiple; self.isTuned = isTuned; nativeRequirement = runsNatively; self.makeLoop = makeLoop
    }

    /// A variant that exists to check and compare against, not to run models: it runs every
    /// format on every CPU, takes no parameter but the thread count, and is never tuned (so
    /// dispatch never picks it).
    static func checking(id: String, summary: String, groupMultiple: Int,
                         makeLoop: @escaping @Sendable (RowTileLoopContext) -> any RowTileLoop) -> KernelVariant {
        KernelVariant(id: id, summary: summary, formats: PackedFormatKind.allCases,
                      space: ParameterSpace(variant: id, parameters: [.threads()], constraints: []),
                      groupMultiple: groupMultiple, isTuned: false, runsNatively: .anyCPU, makeLoop: makeLoop)
    }

    public func supports(_ format: PackedFormatKind) -> Bool { formats.contains(format) }

    /// Whether the variant's own loops run on a CPU with `features` (see `nativeRequirement`).
    public func runsNatively(on features: CPUFeatures) -> Bool { nativeRequirement.isMet(features) }

    /// Why the tuner leaves this variant out on a CPU with `features`, or nil where its own
    /// loops run there.
    public func notTunedNote(on features: CPUFeatures) -> String? {
        runsNatively(on: features) ? nil
            : "\(id) not tuned: this CPU runs only its portable fallback (its own loops need \(nativeRequirement.name)), so dispatch never picks it"
    }

    /// The untuned default for `tokens` activation columns: the space's defaults (set for one
    /// token), with the token block raised for several tokens so one weight decode or table
    /// index load serves several tokens (and the row block lowered to keep the register block
    /// within its constraint).
    public func defaultConfiguration(tokens: Int) -> KernelConfiguration {
        var c = space.defaultConfiguration
        guard tokens > 1, let allowedTokens = space.parameters.first(where: { $0.name == KernelParameterName.tokenBlock })?.allowed else {
            return c
        }
        for (rb, tb) in [(2, 4), (1, 4), (2, 2), (1, 2)] {
            var t = c
            if t[KernelParameterName.rowBlock] != nil { t[KernelParameterName.rowBlock] = rb }
            t[KernelParameterName.tokenBlock] = min(tb, allowedTokens.max() ?? 1)
            if (try? space.resolve(t)) != nil { c = t; break }
        }
        return c
    }

    /// Whether the variant's loops handle the weights' scale groups.
    public func supportsGroups(of w: TernaryWeights) -> Bool {
        supportsGroups(groupSize: w.groupSize, groupsPerRow: w.groupsPerRow)
    }

    public func supportsGroups(groupSize: Int, groupsPerRow: Int) -> Bool {
        groupMultiple == 1 || groupsPerRow == 1 || groupSize % groupMultiple == 0
    }
}

public enum KernelError: Error, CustomStringConvertible, Equatable {
    case unknownVariant(String, known: [String])
    case formatNotSupported(variant: String, format: PackedFormatKind, supported: [PackedFormatKind])
    case groupSizeNotSupported(variant: String, groupSize: Int, cols: Int, multiple: Int)
    case shape(String)

    public var description: String {
        switch self {
        case let .unknownVariant(v, known):
            return "kernel variant '\(v)' is unknown (known: \(known.joined(separator: ", ")))"
        case let .formatNotSupported(v, f, s):
            return "kernel variant '\(v)' does not run on format '\(f.rawValue)' (it runs on: \(s.map(\.rawValue).joined(separator: ", ")))"
        case let .groupSizeNotSupported(v, g, c, m):
            return "kernel variant '\(v)': scale group size \(g) (cols \(c)) is not supported: it needs a multiple of \(m) columns or one group per row"
        case let .shape(what):
            return "kernel: \(what)"
        }
    }
}

/// All kernel variants. The ids are stable: tuning caches and result files refer to them.
public enum KernelRegistry {
    public static let scalar = "scalar"
    public static let simd = "simd"
    public static let simdPortable = "simd-portable"
    public static let bitsliced = "bitsliced"
    public static let lut = "lut"
    public static let lut243 = "lut243"

    /// The variants as this process may run them (`CPUFeatures.current`).
    public static let all: [KernelVariant] = variants(for: .current)

    /// The variants with every parameter value any CPU may offer: what a tuning record from any
    /// context (another ISA cap, a newer CPU) is checked against before it is kept.
    public static let allKnown: [KernelVariant] = {
        var f = CPUFeatures()
        f.sse42 = true; f.avx = true; f.avx2 = true; f.fma = true; f.bmi2 = true; f.f16c = true; f.popcnt = true
        f.avx512f = true; f.avx512bw = true; f.avx512vl = true; f.avx512vnni = true; f.avx512vbmi = true
        f.avxVNNI = true; f.gfni = true
        return variants(for: f)
    }()

    /// The variants with the parameter spaces `features` allows: a loop the CPU cannot run
    /// (tileDecode 2, gemvWidth 512 without AVX512-VNNI) is not a value the space offers.
    public static func variants(for features: CPUFeatures) -> [KernelVariant] { [
        .scalarReference(features),
        .simd(features),
        .simdPortable(features),
        .bitsliced(features),
        .lut(features),
        .lut243(features),
    ] }

    /// What `tritbench tune` and the run's tuning stage tune by default: every tuned variant
    /// whose own loops run on a CPU with `features` (a portable fallback is never worth tuning:
    /// dispatch would not pick it), each on all its formats.
    public static func tuningTargets(for features: CPUFeatures = .current) -> [KernelVariant] {
        variants(for: features).filter { $0.isTuned && $0.runsNatively(on: features) }
    }

    public static func variant(_ id: String) throws -> KernelVariant {
        guard let v = all.first(where: { $0.id == id }) else { throw KernelError.unknownVariant(id, known: all.map(\.id)) }
        return v
    }

    /// The variant `id` as a CPU with `features` would run it.
    public static func variant(_ id: String, features: CPUFeatures) throws -> KernelVariant {
        let list = features == .current ? all : variants(for: features)
        guard let v = list.first(where: { $0.id == id }) else { throw KernelError.unknownVariant(id, known: list.map(\.id)) }
        return v
    }
}
