import CBLAS
import Foundation
import TritCore
import TritKernels

/// A rows × cols table (the token embedding, the tied LM head) as int8 codes with one Float16
/// scale per block of 32 columns: the Q8_0 layout in which SmolLM2's GGUF stores
/// `token_embd.weight`, 34 bytes per 32 values as in the file.
///
/// Why: once the linear layers are ternary, the tied LM head (49152 × 576) dominates a decode
/// step: in Float32 it is 113 MB read per token, which alone caps decode speed at the DRAM
/// bandwidth; as int8 it is 28 MB.
///
/// - Quantizing a Q8_0-dequantized matrix recovers the file's codes and scales exactly (each
///   block's largest |code| is 127, so max|x| / 127 is the stored Float16 d up to one Float32
///   rounding, which rounding to Float16 undoes), hence the dequantized values are the Float32
///   reference's bit for bit: no accuracy is lost. Other tables get a Float16 d rounded once
///   (relative 2⁻¹¹) and codes computed against that rounded d.
/// - Few tokens (decode): the hidden state is quantized per 32-block to int8 as well and the
///   dot products run in integers in `BlockInt8Kernel` (what llama.cpp does for a Q8_0 head); the logits then carry
///   the activation rounding (relative error ~1/254 per block).
/// - Many tokens (prefill, perplexity): blocks of rows are dequantized into Float32 scratch and
///   multiplied by sgemm, so those logits equal the Float32 head's.
///
/// Thread safety: calls are serialised by a lock (shared scratch); parallelism is inside a call.
public final class BlockInt8Matrix: @unchecked Sendable {
    public static let blockSize = 32
    /// Up to this many tokens take the integer path; more take dequantize + sgemm.
    public static let integerPathMaxTokens = 4
    static let dequantizedChunkRows = 512

    public let rows: Int
    public let cols: Int
    public let blocksPerRow: Int
    /// rows × cols int8 codes, row-major.
    let codes: AlignedBuffer
    /// rows × blocksPerRow Float16 scales (bit patterns).
    let scales: AlignedBuffer
    /// One token's activations, int8 per 32-column block (scales in `activationScales`).
    private let activation: AlignedBuffer
    private let activationScales: AlignedBuffer
    private let dequantizedChunk: AlignedBuffer
    private let lock = NSLock()

    /// Quantizes `m` per 32-column block (d = max|x| / 127, q = round(x / d)); nil when the
    /// column count is not a multiple of 32.
    public init?(quantizing m: Matrix) {
        guard m.cols % Self.blockSize == 0, m.rows > 0 else { return nil }
        rows = m.rows; cols = m.cols; blocksPerRow = m.cols / Self.blockSize
        codes = AlignedBuffer(byteCount: rows * cols)
        scales = AlignedBuffer(byteCount: rows * blocksPerRow * 2)
        activation = AlignedBuffer(byteCount: cols)
        activationScales = AlignedBuffer(byteCount: blocksPerRow * 4)
        dequantizedChunk = AlignedBuffer(byteCount: Self.dequantizedChunkRows * cols * 4)
        let q = codes.typed(Int8.self), d = scales.typed(UInt16.self)
        m.values.withUnsafeBufferPointer { x in
            for b in 0..<(rows * blocksPerRow) {
                let scale = Float16(Self.blockScale(x.baseAddress! + b * Self.blockSize))
                d[b] = scale.bitPattern
                Self.quantizeBlock(x.baseAddress! + b * Self.blockSize, scale: Float(scale)) { j, v in q[b * Self.blockSize + j] = v }
            }
        }
    }

    /// d = max|x| / 127 of 32 values.
    @inline(__always)
    static func blockScale(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0
        for j in 0..<blockSize { amax = max(amax, abs(x[j])) }
        return amax / 127
    }

    /// Hands the code of each of 32 values at scale `d` to `store` (round(x / d), clamped to ±127).
    @inline(__always)
    static func quantizeBlock(_ x: UnsafePointer<Float>, scale d: Float, store: (Int, Int8) -> Void) {
        let inverse: Float = d > 0 ? 1 / d : 0
        for j in 0..<blockSize { store(j, Int8(max(-127, min(127, (x[j] * inverse).rounded())))) }
    }

    /// The same table with scratch of its own, for a second thread: the codes and scales are
    /// shared (not copied), so a replica adds only its per-call buffers.
    public func replica() -> BlockInt8Matrix { BlockInt8Matrix(sharing: self) }

    private init(sharing o: BlockInt8Matrix) {
        rows = o.rows; cols = o.cols; blocksPerRow = o.blocksPerRow
        codes = o.codes; scales = o.scales
        activation = AlignedBuffer(byteCount: cols)
        activationScales = AlignedBuffer(byteCount: blocksPerRow * 4)
        dequantizedChunk = AlignedBuffer(byteCount: Self.dequantizedChunkRows * cols * 4)
    }

    /// Bytes held: codes plus scales.
    public var byteCount: Int { rows * cols + rows * blocksPerRow * 2 }

    /// Writes row `r` as Float32 (d · q) into `out`.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let q = codes.typed(Int8.self) + r * cols, d = scales.typed(UInt16.self) + r * blocksPerRow
        for b in 0..<blocksPerRow {
            let s = Float(Float16(bitPattern: d[b]))
            for j in 0..<Self.blockSize { out[b * Self.blockSize + j] = s * Float(q[b * Self.blockSize + j]) }
        }
    }

    /// The row-major Float32 matrix the codes stand for.
    public func dequantized() -> Matrix {
        var m = Matrix(rows: rows, cols: cols)
        m.values.withUnsafeMutableBufferPointer { o in for r in 0..<rows { dequantizeRow(r, into: o.baseAddress! + r * cols) } }
        return m
    }

    /// out[t, r] = Σ_j x[t, j] · row r, for `tokens` rows of x (row stride `cols`); `out` has row
    /// stride `rows`. `threads` splits the rows of the table on the integer path (sgemm uses
    /// OpenBLAS's own thread setting).
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        lock.lock(); defer { lock.unlock() }
        if tokens <= Self.integerPathMaxTokens {
            for t in 0..<tokens { integerProducts(x + t * cols, into: out + t * rows, threads: threads) }
            return
        }
        let scratch = dequantizedChunk.typed(Float.self)
        var first = 0
        while first < rows {
            let n = min(Self.dequantizedChunkRows, rows - first)
            for r in 0..<n { dequantizeRow(first + r, into: scratch + r * cols) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tokens), Int32(n), Int32(cols), 1,
                        x, Int32(cols), scratch, Int32(cols), 0, out + first, Int32(rows))
            first += n
        }
    }

    private func integerProducts(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, threads: Int) {
        let a = activation.typed(Int8.self), ad = activationScales.typed(Float.self)
        for b in 0..<blocksPerRow {
            ad[b] = Self.blockScale(x + b * Self.blockSize)
            Self.quantizeBlock(x + b * Self.blockSize, scale: ad[b]) { j, v in a[b * Self.blockSize + j] = v }
        }
        let n = max(1, min(threads, rows / 1024))
        let codes = UnsafePointer(self.codes.typed(Int8.self)), act = UnsafePointer(a)
        let d = UnsafePointer(scales.typed(UInt16.self)), xd = UnsafePointer(ad)
        let (rows, cols) = (self.rows, self.cols)
        func run(_ range: Range<Int>) {
            BlockInt8Kernel.rows(codes: codes, scales: d, cols: cols, acts: act, actScales: xd, rows: range, y: y)
        }
        if n == 1 { run(0..<rows); return }
        // Chunk bounds on multiples of 4 rows keep every chunk on the kernel's 4-row path. The
        // kernels' pool, whose workers are still spinning from the last layer of the step.
        KernelThreads.forEachChunk(n, threads: n) { i in
            run(min(rows, (rows / 4 * i / n) * 4)..<(i == n - 1 ? rows : (rows / 4 * (i + 1) / n) * 4))
        }
    }
}

/// The token table of a model: Float32 (the reference) or block-int8 (the fast runtime).
public enum TokenTable: Sendable {
    case float32(Matrix)
    case int8(BlockInt8Matrix)

    public var rows: Int { switch self { case let .float32(m): return m.rows; case let .int8(q): return q.rows } }
    public var cols: Int { switch self { case let .float32(m): return m.cols; case let .int8(q): return q.cols } }
    /// "f32" or "q8_0".
    public var kind: String { switch self { case .float32: return "f32"; case .int8: return "q8_0" } }
    public var byteCount: Int { switch self { case let .float32(m): return m.count * 4; case let .int8(q): return q.byteCount } }

    /// The table for another thread (see `BlockInt8Matrix.replica`); Float32 tables have no scratch.
    public func replica() -> TokenTable {
        switch self { case .float32: return self; case let .int8(q): return .int8(q.replica()) }
    }

    /// Copies row `r` as Float32 into `out` (an embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case let .float32(m):
            m.values.withUnsafeBufferPointer { e in out.update(from: e.baseAddress! + r * m.cols, count: m.cols) }
        case let .int8(q): q.dequantizeRow(r, into: out)
        }
    }

    /// `tokens` × rows products of `x` (tokens × cols) with every row: the LM head.
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        switch self {
        case let .float32(m):
            m.values.withUnsafeBufferPointer { w in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tokens), Int32(m.rows), Int32(m.cols), 1,
                            x, Int32(m.cols), w.baseAddress, Int32(m.cols), 0, out, Int32(m.rows))
            }
        case let .int8(q): q.multiply(x, tokens: tokens, into: out, threads: threads)
        }
    }
}
