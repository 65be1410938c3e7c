import TritKernels

/// The tuned kernels of one packed layer, for decode (one token) and prefill (many), chosen so
/// the layer holds one packed copy of its weights wherever the evidence allows.
///
/// When the fastest formats of the two phases differ, decode takes prefill's format if its best
/// record there ties with the fastest (within `tieRatio`, same timing regime), else prefill
/// takes decode's format on the same terms; two formats, two copies, only when each phase is
/// measurably faster in its own. Without this rule a model can hold two copies of many layers
/// for a decode speed that is a tie within the timing noise (measured in Reports/ and the
/// commit that introduced the rule).
public struct LayerKernelChoice: Equatable, Sendable {
    /// The decode choice (nil where nothing was tuned for this shape and plane count).
    public var decode: KernelChoice?
    /// The prefill choice (nil where nothing was tuned).
    public var prefill: KernelChoice?

    /// How much slower (ratio of tuned medians) a choice may be and still tie with the fastest:
    /// same-configuration medians differ by about 11% between runs on a shared 2-core VM, so a
    /// difference under 15% is not evidence.
    public static let tieRatio = 1.15

    /// Looks the layer up in `dispatch` (nil: no choices) at `threads` threads; prefill is
    /// looked up at `prefillTokens` tokens.
    public init(rows: Int, cols: Int, planes: Int, prefillTokens: Int, dispatch: Dispatch?, threads: Int) {
        func pick(_ tokens: Int, _ formats: [PackedFormatKind]) -> KernelChoice? {
            dispatch?.select(formats: Set(formats), rows: rows, cols: cols, tokens: tokens, threads: threads)
        }
        let all = Self.formats(planes: planes)
        let d = pick(1, all), p = pick(prefillTokens, all)
        decode = d; prefill = p
        guard let d, let p, d.format != p.format else { return }
        if let d1 = pick(1, [p.format]), Self.ties(d1, with: d) { decode = d1; return }
        if let p1 = pick(prefillTokens, [d.format]), Self.ties(p1, with: p) { prefill = p1 }
    }

    /// Formats whose tuning records apply to a layer with this many trit planes. The tuner
    /// measures each format at its required plane count and the bitmask format (one or two
    /// planes) at one, so a two-plane layer must not take a one-plane bitmask record: it would
    /// run twice the work the record timed.
    public static func formats(planes: Int) -> [PackedFormatKind] {
        PackedFormatKind.allCases.filter { ($0.requiredPlanes ?? 1) == planes }
    }

    /// Whether `a` is within `tieRatio` of `fastest`, both timed alike (cold or warm).
    static func ties(_ a: KernelChoice, with fastest: KernelChoice) -> Bool {
        guard let x = a.medianSeconds, let y = fastest.medianSeconds, a.cold == fastest.cold else { return false }
        return x <= y * tieRatio
    }
}
