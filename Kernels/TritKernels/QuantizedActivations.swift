import TritCore
import TritKernelsAVX2

/// Per-token int8 activations (absmax), with the per-group sums Σ q the kernels need for the
/// code offset (Σ (w+1)·q − Σ q) and for PT²-LLM's μ. Pre-sized scratch: `quantize` allocates
/// nothing unless more tokens arrive than ever before.
///
///     d_t    = max_j |x'_t[j]| / 127           (x' = x in packed column order)
///     q_t[j] = round_half_even(x'_t[j] · 127 / max|x'_t|)  ∈ [−127, 127]
///
/// One function serves every kernel variant, so their integer inputs are identical and the
/// variants can be compared bit for bit. Rows are zero-padded to `stride` (a multiple of 640,
/// the common multiple of the formats' 128- and 160-column blocks) so SIMD loops may run past
/// the last column.
public final class QuantizedActivations: @unchecked Sendable {
    public let cols: Int
    public let groupSize: Int
    public let groups: Int
    public let stride: Int
    public private(set) var capacity: Int = 0
    public private(set) var tokens: Int = 0
    public private(set) var values: AlignedBuffer
    public private(set) var scales: AlignedBuffer
    public private(set) var groupSums: AlignedBuffer
    /// Float staging for the permuted row.
    private let permuted: AlignedBuffer
    private let permutation: [UInt32]?
    /// Whether the AVX2 loops quantize (the kernel's features: tests run the portable loop on AVX2 CPUs).
    let avx2: Bool

    public convenience init(cols: Int, groupSize: Int, permutation: [UInt32]?, capacity: Int = 1) {
        self.init(cols: cols, groupSize: groupSize, permutation: permutation, capacity: capacity, features: .current)
    }

    init(cols: Int, groupSize: Int, permutation: [UInt32]?, capacity: Int = 1, features: CPUFeatures) {
        avx2 = features.supportsAVX2Kernels
        self.cols = cols
        self.groupSize = groupSize
        self.groups = (cols + groupSize - 1) / groupSize
        self.stride = (cols + 639) / 640 * 640
        self.permutation = permutation
        permuted = AlignedBuffer(byteCount: stride * 4)
        values = AlignedBuffer(byteCount: 0); scales = values; groupSums = values
        reserve(tokens: capacity)
    }

    /// Grows the buffers to hold `tokens` tokens (never shrinks).
    public func reserve(tokens n: Int) {
        guard n > capacity else { return }
        values = AlignedBuffer(byteCount: n * stride)
        scales = AlignedBuffer(byteCount: n * 4)
        groupSums = AlignedBuffer(byteCount: n * groups * 4)
        capacity = n
    }

    public var q: UnsafeMutablePointer<Int8> { values.typed(Int8.self) }
    public var d: UnsafeMutablePointer<Float> { scales.typed(Float.self) }
    public var sums: UnsafeMutablePointer<Int32> { groupSums.typed(Int32.self) }

    /// Quantizes `tokens` rows of `x` (tokens × cols, row-major).
    public func quantize(_ x: UnsafeBufferPointer<Float>, tokens n: Int) {
        precondition(x.count >= n * cols, "activations: expected \(n * cols) floats, got \(x.count)")
        reserve(tokens: n)
        tokens = n
        let staging = permuted.typed(Float.self)
        for t in 0..<n {
            var src = x.baseAddress! + t * cols
            if let perm = permutation {
                for j in 0..<cols { staging[j] = src[Int(perm[j])] }
                src = UnsafePointer(staging)
            }
            let m = Self.absMax(src, cols, avx2: avx2)
            let dst = q + t * stride
            let sumRow = sums + t * groups
            guard m > 0, m.isFinite else {
                dst.update(repeating: 0, count: stride)
                for g in 0..<groups { sumRow[g] = 0 }
                d[t] = m == 0 ? 0 : .nan
                continue
            }
            let inv = 127 / m
            Self.quantizeRow(src, cols, inv, dst, avx2: avx2)
            for j in cols..<stride { dst[j] = 0 }
            for g in 0..<groups {
                var s: Int32 = 0
                for j in (g * groupSize)..<min(cols, (g + 1) * groupSize) { s &+= Int32(dst[j]) }
                sumRow[g] = s
            }
            d[t] = m / 127
        }
    }

    /// Whether `quantize` gives `other` the same values, scales and sums as this for every
    /// input: same columns, scale groups, column permutation and loop.
    func quantizesAlike(_ other: QuantizedActivations) -> Bool {
        cols == other.cols && groupSize == other.groupSize && avx2 == other.avx2 && permutation == other.permutation
    }

    /// Takes the tokens `other` quantized last (`quantizesAlike` must hold), as if this had
    /// quantized the same input.
    func copy(from other: QuantizedActivations) {
        precondition(quantizesAlike(other), "activations: copying from a differently quantized input")
        let n = other.tokens
        reserve(tokens: n)
        tokens = n
        q.update(from: other.q, count: n * stride)
        d.update(from: other.d, count: n)
        sums.update(from: other.sums, count: n * groups)
    }

    /// max |x|, NaN when any value is not finite. AVX2 where present (same result: max is exact).
    static func absMax(_ x: UnsafePointer<Float>, _ n: Int, avx2: Bool = useAVX2) -> Float {
        #if arch(x86_64)
        if avx2 { return AVX2Kernels.absMax(x, n) ?? .nan }
        #endif
        var m: Float = 0
        for j in 0..<n {
            let v = abs(x[j])
            if !v.isFinite { return .nan }
            m = max(m, v)
        }
        return m
    }

    /// q = round_half_even(x · inv) (|x · inv| ≤ 127 since inv = 127 / max|x|). The choice of
    /// loop depends on the CPU only, never on the kernel variant, so all variants see equal q.
    static func quantizeRow(_ x: UnsafePointer<Float>, _ n: Int, _ inv: Float, _ q: UnsafeMutablePointer<Int8>,
                            avx2: Bool = useAVX2) {
        #if arch(x86_64)
        if avx2 { AVX2Kernels.quantize(x, n, inv, q); return }
        #endif
        for j in 0..<n { q[j] = Int8(min(127, max(-127, (x[j] * inv).rounded(.toNearestOrEven)))) }
    }

    static let useAVX2 = CPUFeatures.current.supportsAVX2Kernels

    /// Installs already-quantized activations (tests: adversarial int8 inputs such as all −128,
    /// which absmax quantization never produces). `q` is tokens × cols.
    public func install(q values: [Int8], scales: [Float], tokens n: Int) {
        precondition(values.count == n * cols && scales.count == n)
        reserve(tokens: n)
        tokens = n
        for t in 0..<n {
            let dst = q + t * stride
            for j in 0..<stride { dst[j] = j < cols ? values[t * cols + j] : 0 }
            for g in 0..<groups {
                var s: Int32 = 0
                for j in (g * groupSize)..<min(cols, (g + 1) * groupSize) { s &+= Int32(dst[j]) }
                sums[t * groups + g] = s
            }
            d[t] = scales[t]
        }
    }
}
