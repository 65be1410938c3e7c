import TritCore

extension KernelVariant {
    /// The portable loop forced, on every CPU: what the SIMD variants fall back to, run on its
    /// own so that tests and comparisons reach it on machines that have AVX2. It runs every
    /// format (through `portableCodes`), so a new format is checked here with no loop of its own.
    static func simdPortable(_ features: CPUFeatures) -> KernelVariant {
        .checking(id: KernelRegistry.simdPortable,
                  summary: "portable Swift SIMD decode + int32 dot (the fallback of simd/bitsliced/lut, forced)",
                  groupMultiple: 32, makeLoop: { $0.portableLoop() })
    }
}

/// Portable Swift SIMD over any format: 32 codes at a time from the format's
/// `portableCodes(plane:row:vector:)`, multiplied with the activations in `SIMD32<Int32>` (no
/// int16 stage, so no overflow bound). Every variant's fallback where its own loop cannot run.
final class PortableLoop<Format: PackedTernaryFormat>: RowTileLoop, @unchecked Sendable {
    let format: Format
    let tileRows = 8
    let scratchBytes = 0

    init(format: Format) { self.format = format }

    func name(tokens: Int) -> String { "portable-simd" }

    func run(tiles: Range<Int>, pass: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let side = format.side, ng = side.groupsPerRow, cols = side.cols
        let range = (tiles.lowerBound * tileRows)..<min(side.rows, tiles.upperBound * tileRows)
        let vectorsPerRow = (cols + 31) / 32
        let vectorsPerGroup = ng == 1 ? vectorsPerRow : side.groupSize / 32
        for t in 0..<tokens {
            let q = acts.q + t * acts.stride
            let gs = acts.sums + t * ng
            for r in range {
                y[t * side.rows + r] = TernaryEpilogue.row(side, row: r, groupSums: gs, d: acts.d[t]) { p, g in
                    var acc = SIMD32<Int32>()
                    for v in (g * vectorsPerGroup)..<min(vectorsPerRow, (g + 1) * vectorsPerGroup) {
                        let x = UnsafeRawPointer(q + 32 * v).loadUnaligned(as: SIMD32<Int8>.self)
                        acc &+= SIMD32<Int32>(truncatingIfNeeded: format.portableCodes(plane: p, row: r, vector: v))
                            &* SIMD32<Int32>(truncatingIfNeeded: x)
                    }
                    return acc.wrappedSum() &- gs[g]
                }
            }
        }
    }
}

extension RowTileLoopContext {
    /// The portable loop over the layer's format (opened from the existential, so the decode
    /// is specialised per format rather than called through a witness table per vector).
    func portableLoop() -> any RowTileLoop { Self.portable(layer.format) }

    /// `make`'s loop where the layer's format is an `F` and the CPU runs it (`runs`, x86-64
    /// only), the portable loop otherwise.
    func loop<F: PackedTernaryFormat>(over _: F.Type, where runs: Bool, _ make: (F) -> any RowTileLoop) -> any RowTileLoop {
        #if arch(x86_64)
        if runs, let f = layer.format as? F { return make(f) }
        #endif
        return portableLoop()
    }

    private static func portable<F: PackedTernaryFormat>(_ f: F) -> any RowTileLoop { PortableLoop<F>(format: f) }
}
