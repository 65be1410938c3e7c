import TritCore

extension KernelVariant {
    /// The reference every other variant is checked against; not tuned, never dispatched.
    static func scalarReference(_ features: CPUFeatures) -> KernelVariant {
        .checking(id: KernelRegistry.scalar,
                  summary: "scalar reference: int8 activations × trits from the unpacked planes, exact int32 sums",
                  groupMultiple: 1, makeLoop: { ScalarReferenceLoop(weights: $0.layer.unpack(), side: $0.side) })
    }
}

/// The scalar reference: trits straight from the unpacked planes (so it checks the packing
/// too), exact int32 sums per (plane, group), then the shared epilogue. Any group size.
final class ScalarReferenceLoop: RowTileLoop, @unchecked Sendable {
    let weights: TernaryWeights
    let side: TernarySideData
    let tileRows = 8
    let scratchBytes = 0

    init(weights: TernaryWeights, side: TernarySideData) {
        self.weights = weights
        self.side = side
    }

    func name(tokens: Int) -> String { "scalar-reference" }

    func run(tiles: Range<Int>, pass: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let range = (tiles.lowerBound * tileRows)..<min(side.rows, tiles.upperBound * tileRows)
        let cols = weights.cols, gsize = weights.groupSize, ng = weights.groupsPerRow
        weights.planes[0].withUnsafeBufferPointer { p0 in
            (weights.planes.count > 1 ? weights.planes[1] : weights.planes[0]).withUnsafeBufferPointer { p1 in
                for t in 0..<tokens {
                    let q = acts.q + t * acts.stride
                    let gs = acts.sums + t * ng
                    for r in range {
                        let yv = TernaryEpilogue.row(side, row: r, groupSums: gs, d: acts.d[t]) { p, g in
                            let w = (p == 0 ? p0 : p1).baseAddress! + r * cols
                            var s: Int32 = 0
                            for j in (g * gsize)..<min(cols, (g + 1) * gsize) { s &+= Int32(w[j]) * Int32(q[j]) }
                            return s
                        }
                        y[t * weights.rows + r] = yv
                    }
                }
            }
        }
    }
}
