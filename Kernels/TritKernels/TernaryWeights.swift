import TritCore

/// Errors in the logical description of ternary weights (shapes, values, group sizes).
public enum TernaryWeightsError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, reason: String)
    public var description: String {
        switch self { case let .invalid(field, reason): return "ternary weights: field '\(field)': \(reason)" }
    }
}

/// The logical (unpacked) form of a ternary layer: what every quantizer produces and every
/// packed format is built from. It is the contract between TritQuant, the formats and the model.
///
/// The layer computes, for an input x of length `cols`:
///
///     x'[j]  = x[permutation[j]]                       (identity when `permutation` is nil)
///     y[i]   = Σ_p Σ_g scales[p][i, g] · Σ_{j ∈ g} planes[p][i, j] · x'[j]
///            + Σ_g offsets[i, g] · Σ_{j ∈ g} x'[j]      (PT²-LLM's μ; absent when nil)
///            + bias[i]                                  (Tequila's folded deadzone bias)
///
/// with groups g of `groupSize` consecutive (permuted) columns; the last group of a row may be
/// shorter when `cols` is not a multiple of `groupSize`. One plane for absmean/TWN/PT²-LLM/
/// Tequila, two planes for PTQTP.
public struct TernaryWeights: Equatable, Sendable {
    public let rows: Int
    public let cols: Int
    /// Columns per scale group (e.g. 128); `cols` means one group per row (per-row scales).
    public let groupSize: Int
    /// 1 or 2 trit planes, each `rows * cols` values in {-1, 0, +1}, row-major.
    public var planes: [[Int8]]
    /// One scale array per plane, `rows * groupsPerRow` values, row-major.
    public var scales: [[Float]]
    /// PT²-LLM's per-(row, group) offset μ, `rows * groupsPerRow` values.
    public var offsets: [Float]?
    /// Column permutation: packed column j reads input column `permutation[j]` (PT²-LLM SSR).
    public var permutation: [Int32]?
    /// Per-output bias added after the product (Tequila's folded deadzone bias).
    public var bias: [Float]?

    public var groupsPerRow: Int { (cols + groupSize - 1) / groupSize }

    public init(rows: Int, cols: Int, groupSize: Int, planes: [[Int8]], scales: [[Float]],
                offsets: [Float]? = nil, permutation: [Int32]? = nil, bias: [Float]? = nil) throws {
        self.rows = rows; self.cols = cols; self.groupSize = groupSize
        self.planes = planes; self.scales = scales
        self.offsets = offsets; self.permutation = permutation; self.bias = bias
        try validate()
    }

    /// Checks every shape and value; quantizers and file loaders call this before packing.
    public func validate() throws {
        func bad(_ f: String, _ r: String) -> TernaryWeightsError { .invalid(field: f, reason: r) }
        guard rows > 0, cols > 0 else { throw bad("shape", "rows and cols must be positive, got \(rows)x\(cols)") }
        guard groupSize > 0 else { throw bad("groupSize", "must be positive, got \(groupSize)") }
        guard planes.count == 1 || planes.count == 2 else { throw bad("planes", "expected 1 or 2 planes, got \(planes.count)") }
        guard scales.count == planes.count else { throw bad("scales", "expected one scale array per plane (\(planes.count)), got \(scales.count)") }
        let ng = rows * groupsPerRow
        for (p, plane) in planes.enumerated() {
            guard plane.count == rows * cols else { throw bad("planes[\(p)]", "expected \(rows * cols) trits, got \(plane.count)") }
            if let i = plane.firstIndex(where: { $0 < -1 || $0 > 1 }) {
                throw bad("planes[\(p)]", "value \(plane[i]) at index \(i) (row \(i / cols), column \(i % cols)) is not in {-1, 0, +1}")
            }
            guard scales[p].count == ng else { throw bad("scales[\(p)]", "expected \(ng) values (rows × groups), got \(scales[p].count)") }
            if let i = scales[p].firstIndex(where: { !$0.isFinite }) { throw bad("scales[\(p)]", "value at index \(i) is not finite") }
        }
        if let o = offsets {
            guard o.count == ng else { throw bad("offsets", "expected \(ng) values, got \(o.count)") }
            if let i = o.firstIndex(where: { !$0.isFinite }) { throw bad("offsets", "value at index \(i) is not finite") }
        }
        if let b = bias {
            guard b.count == rows else { throw bad("bias", "expected \(rows) values, got \(b.count)") }
            if let i = b.firstIndex(where: { !$0.isFinite }) { throw bad("bias", "value at index \(i) is not finite") }
        }
        if let perm = permutation {
            guard perm.count == cols else { throw bad("permutation", "expected \(cols) entries, got \(perm.count)") }
            var seen = [Bool](repeating: false, count: cols)
            for (j, p) in perm.enumerated() {
                guard p >= 0, Int(p) < cols, !seen[Int(p)] else {
                    throw bad("permutation", "entry \(j) = \(p) is out of range or repeated: not a permutation of 0..<\(cols)")
                }
                seen[Int(p)] = true
            }
        }
    }

    /// The effective dense weight matrix Ŵ (rows × cols, in the ORIGINAL column order), such
    /// that y = Ŵ x + bias. The float reference for every kernel and the quantizers' error.
    public func dequantized() -> Matrix {
        var w = Matrix(rows: rows, cols: cols)
        let ng = groupsPerRow
        for i in 0..<rows {
            for j in 0..<cols {
                let g = i * ng + j / groupSize
                var v: Float = 0
                for p in 0..<planes.count { v += scales[p][g] * Float(planes[p][i * cols + j]) }
                if let o = offsets { v += o[g] }
                let dst = permutation.map { Int($0[j]) } ?? j
                w[i, dst] = v
            }
        }
        return w
    }

    /// Float reference of the layer for `tokens` inputs (x row-major tokens × cols; result
    /// tokens × rows), computed from `dequantized()` in Double. Slow; for tests.
    public func referenceForward(_ x: [Float], tokens: Int) -> [Float] {
        precondition(x.count == tokens * cols)
        let w = dequantized()
        var y = [Float](repeating: 0, count: tokens * rows)
        for t in 0..<tokens {
            for i in 0..<rows {
                var s = 0.0
                for j in 0..<cols { s += Double(w[i, j]) * Double(x[t * cols + j]) }
                y[t * rows + i] = Float(s) + (bias?[i] ?? 0)
            }
        }
        return y
    }

    /// Storage of this logical form at its information-theoretic best is not what a format
    /// stores; each packed format reports its own bits per weight. This counts the side data
    /// (scales, offsets, permutation, bias) in bits, assuming fp16 scales/offsets/bias and
    /// int16 (cols ≤ 65536) permutation indices, as the packed formats store them.
    public var sideBits: Int {
        let ng = rows * groupsPerRow
        var bits = planes.count * ng * 16
        if offsets != nil { bits += ng * 16 }
        if permutation != nil { bits += cols * (cols <= 65536 ? 16 : 32) }
        if bias != nil { bits += rows * 16 }
        return bits
    }
}

extension TernaryWeights {
    /// The same weights with scales, offsets and bias rounded to the nearest Float16, which is
    /// how the packed formats store them. Quantizers return this, so that packing and unpacking
    /// are exact and the errors they report are the errors of what is stored.
    public func roundedToHalfPrecision() -> TernaryWeights {
        func r(_ a: [Float]) -> [Float] { a.map { Float(Float16($0)) } }
        var w = self
        w.scales = scales.map(r)
        w.offsets = offsets.map(r)
        w.bias = bias.map(r)
        return w
    }
}
