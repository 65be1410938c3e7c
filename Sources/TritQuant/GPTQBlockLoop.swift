import CBLAS
import TritCore

/// The grid of one method inside the GPTQ loop: fitted once per column block, then applied to
/// one column at a time as the loop's error feedback updates the columns still to come.
protocol GPTQBlockQuantizer {
    /// Called before each block with the block's current (error-updated) weights, rows × width,
    /// and the calibration second moment (1/N Σ x xᵀ, undamped) restricted to the block's
    /// columns, width × width, both in working column order. `start` is the block's first
    /// working column.
    mutating func beginBlock(index: Int, start: Int, weights: Matrix, secondMoment: [Double]) throws
    /// Quantizes working column `start + k`: `values` holds its current weights for every row
    /// and is overwritten with the quantized values (the codes are recorded by the quantizer).
    mutating func quantizeColumn(_ k: Int, start: Int, values: UnsafeMutableBufferPointer<Float>)
}

/// How a block's columns meet the loop's error feedback.
enum IntraBlockUpdate: Sendable, Equatable {
    /// GPTQ: each column is quantized after the updates from the block's earlier columns.
    case columnwise
    /// PT²-LLM's official loop: the block is fitted once on its weights as the block begins;
    /// no column sees another's update, and only the block's error Err = (W_B − Q_B) / diag(U_BB)
    /// moves the later blocks.
    case fitOnce
}

/// Which columns form the next block.
enum BlockOrder: Sendable {
    /// Columns in their original order (GPTQ without act-order).
    case sequential
    /// PT²-LLM's Structural Similarity-based Reordering: before each block, L2-normalise every
    /// remaining (error-updated) column, take their mean direction, and pick the `blockSize`
    /// columns with the largest dot product with it. The chosen columns keep their current
    /// relative order inside the block (an UNVERIFIED detail; the paper only fixes the set).
    case structuralSimilarity
}

/// The one Hessian / Cholesky / error-propagation loop, shared by GPTQ and PT²-LLM.
///
/// H = 2/N Σ x xᵀ (from `Calibration`: 2·H), dead inputs (H_ii = 0) get H_ii = 1 and zero
/// weights, dampening adds `dampening · mean(diag H)` to the diagonal, and the loop keeps the
/// inverse Hessian of the not-yet-quantized columns. For each block B of the remaining set
/// F = B ∪ R it factors H_F⁻¹ in the order [B, R] as Uᵀ U (upper Cholesky: U_BB = chol(H⁻¹_BB),
/// U_BR = U_BB⁻ᵀ H⁻¹_BR), quantizes B column by column with GPTQ's update
/// err_k = (w_k − q_k) / U_kk, w_j −= err_k U_kj (j > k in B), then W_R −= Err · U_BR, and
/// continues with H_R⁻¹ = H⁻¹_RR − U_BRᵀ U_BR (the Schur complement, i.e. the remaining rows
/// of the same Cholesky factor). With sequential order this is exactly GPTQ's single
/// Cholesky of H⁻¹; keeping the factorisation per block is what lets SSR choose each block
/// from the error-updated weights. Heavy steps are LAPACK/BLAS (dpotri, dpotrf, dtrsm,
/// dgemm, sgemm).
struct GPTQBlockLoop {
    var blockSize: Int = 128
    var dampening: Double = 0.01
    var order: BlockOrder = .sequential
    /// SSR: the chosen columns in descending score order (PT²-LLM's official code: top-k order)
    /// instead of their current relative order.
    var topKOrder = false
    var intraBlock: IntraBlockUpdate = .columnwise
    /// GPTAQ's asymmetric calibration term (alpha, as in its code, and E[(x̃ − x) xᵀ]): the loop
    /// then minimises ‖Q X − W X̃‖ rather than ‖(W − Q) X‖. With U the upper Cholesky factor of
    /// H⁻¹ and D = 2 E[(x̃ − x) xᵀ] (scaled as H), P = α · triu₁(D Uᵀ) · U; a column's update gains
    /// + w · P[k, j>k], a block's propagation + Q_B · P[B, R]. Per block, with the remaining set
    /// F = B ∪ R factored as [B, R], P[B, ·] needs only U_BB, U_BR and H_R⁻¹:
    /// P_BB = α A′ U_BB, P_BR = α (A′ U_BR + D_BR H_R⁻¹), A′ = triu₁(D_BF U_BFᵀ), so it does not
    /// depend on how SSR will order R later.
    var asymmetric: (alpha: Double, cross: [Double])? = nil

    /// Runs the loop; returns the quantized weights in working column order and the permutation
    /// (working column j is original column `permutation[j]`).
    func run<Q: GPTQBlockQuantizer>(_ w: Matrix, calibration: Calibration, quantizer: inout Q,
                                    method: String) throws -> (quantized: Matrix, permutation: [Int]) {
        let n = w.rows, d = w.cols
        precondition(calibration.cols == d && blockSize > 0)
        var crossD = asymmetric.map { a in a.cross.map { 2 * $0 } }
        var work = w.values
        var perm = Array(0..<d)

        var h = calibration.secondMoment.map { 2 * $0 }
        var diagSum = 0.0
        for i in 0..<d {
            if h[i * d + i] == 0 {
                h[i * d + i] = 1
                for r in 0..<n { work[r * d + i] = 0 }
                if crossD != nil { for r in 0..<d { crossD![r * d + i] = 0 } }
            }
            diagSum += h[i * d + i]
        }
        let damp = dampening * diagSum / Double(d)
        for i in 0..<d { h[i * d + i] += damp }
        var hinv: [Double]
        do { hinv = try LinearAlgebra.inverseSPD(h, n: d) } catch {
            throw QuantizationError.numerical(method: method, reason: "Hessian is not positive definite after dampening \(dampening): \(error)")
        }
        h = []

        var start = 0, blockIndex = 0
        while start < d {
            let r = d - start
            let bs = min(blockSize, r)
            let rest = r - bs
            if order == .structuralSimilarity && rest > 0 {
                let newOrder = Self.similarityOrder(work, rows: n, cols: d, start: start, take: bs, topKOrder: topKOrder)
                Self.permuteColumns(&work, rows: n, cols: d, start: start, order: newOrder)
                let old = perm
                for (a, src) in newOrder.enumerated() { perm[start + a] = old[start + src] }
                var reordered = [Double](repeating: 0, count: r * r)
                for a in 0..<r { for b in 0..<r { reordered[a * r + b] = hinv[newOrder[a] * r + newOrder[b]] } }
                hinv = reordered
            }

            // Rows of the upper Cholesky factor of H_F⁻¹ that belong to this block.
            var ubb = [Double](repeating: 0, count: bs * bs)
            for a in 0..<bs { for b in a..<bs { ubb[a * bs + b] = hinv[a * r + b] } }
            let info = ubb.withUnsafeMutableBufferPointer {
                LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(bs), $0.baseAddress, Int32(bs))
            }
            guard info == 0 else {
                throw QuantizationError.numerical(method: method, reason: "inverse Hessian block at column \(start) is not positive definite (LAPACK info \(info)); raise dampening")
            }
            for a in 0..<bs { for b in 0..<a { ubb[a * bs + b] = 0 } }
            var ubr = [Double](repeating: 0, count: bs * rest)
            var next = [Double](repeating: 0, count: rest * rest)
            if rest > 0 {
                for a in 0..<bs { for b in 0..<rest { ubr[a * rest + b] = hinv[a * r + bs + b] } }
                for a in 0..<rest { for b in 0..<rest { next[a * rest + b] = hinv[(bs + a) * r + bs + b] } }
                ubb.withUnsafeBufferPointer { pu in
                    ubr.withUnsafeMutableBufferPointer { pr in
                        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit,
                                    Int32(bs), Int32(rest), 1, pu.baseAddress, Int32(bs), pr.baseAddress, Int32(rest))
                    }
                }
                ubr.withUnsafeBufferPointer { pr in
                    next.withUnsafeMutableBufferPointer { pn in
                        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rest), Int32(rest), Int32(bs),
                                    -1, pr.baseAddress, Int32(rest), pr.baseAddress, Int32(rest), 1,
                                    pn.baseAddress, Int32(rest))
                    }
                }
            }

            // GPTAQ's P for this block's rows (see `asymmetric`).
            var pBB: [Double] = [], pBR: [Double] = []
            if let crossD, let alpha = asymmetric?.alpha {
                (pBB, pBR) = Self.asymmetricTerm(crossD, d: d, perm: perm, start: start, bs: bs, rest: rest,
                                                 ubb: ubb, ubr: ubr, hinvRest: next, alpha: alpha)
            }

            // The block, column-major so that each column is contiguous.
            var block = [Float](repeating: 0, count: bs * n)
            var blockRowMajor = Matrix(rows: n, cols: bs)
            for i in 0..<n {
                for k in 0..<bs {
                    let v = work[i * d + start + k]
                    block[k * n + i] = v
                    blockRowMajor.values[i * bs + k] = v
                }
            }
            try quantizer.beginBlock(index: blockIndex, start: start, weights: blockRowMajor,
                                     secondMoment: calibration.secondMoment(restrictedTo: Array(perm[start..<(start + bs)])))
            var errs = [Float](repeating: 0, count: bs * n)
            var quantized = [Float](repeating: 0, count: bs * n)
            var q = [Float](repeating: 0, count: n)
            let columnwise = intraBlock == .columnwise
            block.withUnsafeMutableBufferPointer { pb in
                errs.withUnsafeMutableBufferPointer { pe in
                    q.withUnsafeMutableBufferPointer { pq in
                        for k in 0..<bs {
                            for i in 0..<n { pq[i] = pb[k * n + i] }
                            quantizer.quantizeColumn(k, start: start, values: pq)
                            let dkk = Float(ubb[k * bs + k])
                            for i in 0..<n {
                                pe[k * n + i] = (pb[k * n + i] - pq[i]) / dkk
                                quantized[k * n + i] = pq[i]
                                work[i * d + start + k] = pq[i]
                            }
                            guard columnwise else { continue }
                            for j in (k + 1)..<max(bs, k + 1) {
                                let u = Float(ubb[k * bs + j])
                                let p = pBB.isEmpty ? 0 : Float(pBB[k * bs + j])
                                if u == 0 && p == 0 { continue }
                                // GPTAQ: + w·P with w the column as it was quantized (before its own update).
                                for i in 0..<n { pb[j * n + i] -= pe[k * n + i] * u - pb[k * n + i] * p }
                            }
                        }
                    }
                }
            }
            if rest > 0 {
                let ubrF = ubr.map { Float($0) }
                errs.withUnsafeBufferPointer { pe in
                    ubrF.withUnsafeBufferPointer { pu in
                        work.withUnsafeMutableBufferPointer { pw in
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(rest), Int32(bs),
                                        -1, pe.baseAddress, Int32(n), pu.baseAddress, Int32(rest), 1,
                                        pw.baseAddress! + start + bs, Int32(d))
                        }
                    }
                }
                if !pBR.isEmpty {
                    // + Q_B · P_BR (the block as stored; in GPTQ's loop W1 ends equal to Q1).
                    let pF = pBR.map { Float($0) }
                    quantized.withUnsafeBufferPointer { pq in
                        pF.withUnsafeBufferPointer { pp in
                            work.withUnsafeMutableBufferPointer { pw in
                                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(rest), Int32(bs),
                                            1, pq.baseAddress, Int32(n), pp.baseAddress, Int32(rest), 1,
                                            pw.baseAddress! + start + bs, Int32(d))
                            }
                        }
                    }
                }
            }
            hinv = next
            start += bs
            blockIndex += 1
        }
        return (Matrix(rows: n, cols: d, values: work), perm)
    }

    /// SSR's choice for the next block: the new order of the remaining working columns
    /// [start, cols) — the `take` chosen ones first (in their current order), then the rest.
    static func similarityOrder(_ work: [Float], rows n: Int, cols d: Int, start: Int, take: Int, topKOrder: Bool = false) -> [Int] {
        let r = d - start
        var inverseNorm = [Double](repeating: 0, count: r)
        for i in 0..<n { for j in 0..<r { let v = Double(work[i * d + start + j]); inverseNorm[j] += v * v } }
        for j in 0..<r { inverseNorm[j] = inverseNorm[j] > 0 ? 1 / inverseNorm[j].squareRoot() : 0 }
        var score = [Double](repeating: 0, count: r)
        for i in 0..<n {
            var u = 0.0
            for j in 0..<r { u += Double(work[i * d + start + j]) * inverseNorm[j] }
            u /= Double(r)
            for j in 0..<r { score[j] += Double(work[i * d + start + j]) * inverseNorm[j] * u }
        }
        let ranked = (0..<r).sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }
        var chosen = [Bool](repeating: false, count: r)
        for j in ranked.prefix(take) { chosen[j] = true }
        let first = topKOrder ? Array(ranked.prefix(take)) : (0..<r).filter { chosen[$0] }
        return first + (0..<r).filter { !chosen[$0] }
    }

    /// GPTAQ's P_BB (bs × bs) and P_BR (bs × rest) for the block at working columns
    /// start ..< start + bs, from D (d × d, original column order), the block's rows of the
    /// upper Cholesky factor of H_F⁻¹ (U_BB, U_BR) and H_R⁻¹ (see `asymmetric`).
    static func asymmetricTerm(_ dFull: [Double], d: Int, perm: [Int], start: Int, bs: Int, rest: Int,
                               ubb: [Double], ubr: [Double], hinvRest: [Double], alpha: Double) -> (bb: [Double], br: [Double]) {
        let r = bs + rest
        // D_BF (bs × r) and U_BF = [U_BB | U_BR] (bs × r), in working order.
        var dBF = [Double](repeating: 0, count: bs * r), uBF = [Double](repeating: 0, count: bs * r)
        for a in 0..<bs {
            let row = perm[start + a] * d
            for f in 0..<r { dBF[a * r + f] = dFull[row + perm[start + f]] }
            for f in 0..<bs { uBF[a * r + f] = ubb[a * bs + f] }
            for f in 0..<rest { uBF[a * r + bs + f] = ubr[a * rest + f] }
        }
        var aMat = [Double](repeating: 0, count: bs * bs)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(bs), Int32(bs), Int32(r), 1,
                    dBF, Int32(r), uBF, Int32(r), 0, &aMat, Int32(bs))
        for a in 0..<bs { for c in 0...a { aMat[a * bs + c] = 0 } }   // triu₁: only c > a
        var bb = [Double](repeating: 0, count: bs * bs)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(bs), Int32(bs), Int32(bs), alpha,
                    aMat, Int32(bs), ubb, Int32(bs), 0, &bb, Int32(bs))
        var br = [Double](repeating: 0, count: bs * rest)
        if rest > 0 {
            var dBR = [Double](repeating: 0, count: bs * rest)
            for a in 0..<bs { for f in 0..<rest { dBR[a * rest + f] = dBF[a * r + bs + f] } }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(bs), Int32(rest), Int32(bs), alpha,
                        aMat, Int32(bs), ubr, Int32(rest), 0, &br, Int32(rest))
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(bs), Int32(rest), Int32(rest), alpha,
                        dBR, Int32(rest), hinvRest, Int32(rest), 1, &br, Int32(rest))
        }
        return (bb, br)
    }

    /// Reorders working columns [start, cols) of every row: new column start+a is old start+order[a].
    static func permuteColumns(_ work: inout [Float], rows n: Int, cols d: Int, start: Int, order: [Int]) {
        var tmp = [Float](repeating: 0, count: order.count)
        for i in 0..<n {
            let base = i * d + start
            for (a, src) in order.enumerated() { tmp[a] = work[base + src] }
            for a in 0..<order.count { work[base + a] = tmp[a] }
        }
    }
}
