import Foundation
import Testing
import TritCore
import TritKernels
import TritQuant
@testable import TritTune
@testable import TritDispatch
@testable import TritModel

/// SmolLM2-135M with linear layers absmean-ternarized (groups of 128, TritQuant's registry)
/// and saved as a packed model file; layers not selected stay in the source GGUF (Float32).
enum AbsmeanPackedModel {
    static let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tritmodel-packed-\(getpid())").path

    /// Writes the packed file of the linear layers `select` accepts and returns its path.
    static func write(name: String, select: (String) -> Bool) throws -> String {
        let quantizer = try QuantizationMethod.absmean.quantizer(parameters: ["group": "128"])
        var tensors: [String: PackedTensor] = [:]
        for tensor in RealModel.weights.linearNames where select(tensor) {
            guard case let .ternary(t) = try quantizer.quantizeLayer(RealModel.weights.linear[tensor]!).layer else {
                preconditionFailure("absmean returns ternary layers")
            }
            tensors[tensor] = .ternary(t)
        }
        let file = PackedModelFile(method: "absmean", parameters: quantizer.resolvedParameters, sourceGGUFPath: RealModel.path,
                                   sourceGGUFSHA256: try PackedModelFile.sha256(ofFile: RealModel.path), tensors: tensors)
        let path = directory + "/\(name).trit"
        try file.write(to: path)
        return path
    }

    /// Every linear layer of blocks 12 ..< 16 ternary: every layer kind on real weights and
    /// activations while the model stays a language model. Absmean without training wrecks this
    /// small model elsewhere (all 30 blocks: perplexity ~10⁷; blocks 0–3: ~10⁵; measured), and
    /// there chaotic amplification of any rounding makes a whole-model comparison meaningless;
    /// with blocks 12–15 the dequantized model scores ~51 on the test text.
    static let ternaryBlocks = 12..<16
    static let path = try! write(name: "smollm2-absmean-blocks12-15") { name in
        ternaryBlocks.contains(where: { name.hasPrefix("blk.\($0).") })
    }
    static let packed: LoadedModel = try! LoadedModel(path: path, ternary: .packedKernels(nil))
    static let reference: LoadedModel = try! LoadedModel(path: path, ternary: .dequantizedFloat32)
}

@Suite("packed ternary runtime")
struct PackedRuntimeTests {
    static func randomWeights(rows: Int, cols: Int, planes: Int = 1, seed: UInt64 = 11) throws -> TernaryWeights {
        var g = SeededGenerator(seed: seed)
        let groups = rows * (cols / 128)
        return try TernaryWeights(rows: rows, cols: cols, groupSize: 128,
                                  planes: (0..<planes).map { _ in (0..<(rows * cols)).map { _ in Int8(Int(g.next() % 3) - 1) } },
                                  scales: (0..<planes).map { _ in (0..<groups).map { _ in 0.02 + abs(g.nextGaussian()) * 0.01 } })
            .roundedToHalfPrecision()
    }

    /// One layer: the kernels against Ŵx in Float32. The kernels quantize each token's
    /// activations to int8 (absmax), so each output carries an error of at most
    /// Σ_j |ŵ_j| · max|x| / 254 (half a step per activation); we check that bound, which a wrong
    /// kernel choice, scale or threading split breaks by orders of magnitude.
    @Test func layerMatchesDequantizedFloatWithinActivationRounding() throws {
        let w = try Self.randomWeights(rows: 200, cols: 384)
        let reference = FloatLinear(dequantizing: w)
        let packed = try PackedTernaryLinear(weights: w, dispatch: nil, threads: 2)
        #expect(packed.decode.tuned == false && packed.prefill.tuned == false)
        #expect(packed.kind == "ternary-2bit")
        var g = SeededGenerator(seed: 5)
        let dense = w.dequantized()
        // 1 token: the decode kernel; 7: one prefill call; 70: two prefill calls (64 + 6).
        for tokens in [1, 7, PackedTernaryLinear.maxTokensPerCall + 6] {
            let x = (0..<(tokens * w.cols)).map { _ in g.nextGaussian() }
            var y = [Float](repeating: 0, count: tokens * w.rows), r = y
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { packed.forward(xp, tokens: tokens, into: $0) }
                r.withUnsafeMutableBufferPointer { reference.forward(xp, tokens: tokens, into: $0) }
            }
            for t in 0..<tokens {
                let amax = (0..<w.cols).map { abs(x[t * w.cols + $0]) }.max()!
                for i in 0..<w.rows {
                    let bound = (0..<w.cols).map { abs(dense[i, $0]) }.reduce(0, +) * amax / 254 + 1e-4
                    #expect(abs(y[t * w.rows + i] - r[t * w.rows + i]) <= bound, "tokens \(tokens) row \(i)")
                }
            }
        }
        // Another thread count keeps the kernels (no tuning to change them) and the results.
        let one = packed.threaded(1) as! PackedTernaryLinear
        #expect(one.threads == 1 && one.weightBytes == packed.weightBytes)
    }

    /// A two-plane layer never takes a record the tuner measured with one plane: bitmask holds
    /// one or two planes but is tuned at one, so its (faster) record must lose to the slower
    /// two-plane one. This picked bitsliced/bitmask for PTQTP's FFN layers, which then ran at
    /// ~4× the recorded time.
    @Test func twoPlaneLayerIgnoresOnePlaneRecords() throws {
        let w = try Self.randomWeights(rows: 64, cols: 256, planes: 2)
        let context = TuningContext(cpuFingerprint: "test-cpu", buildFingerprint: "test-build")
        var cache = TuningCache()
        func record(_ variant: String, _ format: String, median: Double) -> TuningRecord {
            TuningRecord(context: context, problem: TuningProblem(variant: variant, format: PackedFormatKind(rawValue: format)!, rows: 64, cols: 256, tokens: 1, threads: 1),
                         configuration: TuningConfiguration(["rowBlock": 4, "tokenBlock": 1]), status: "ok", failure: nil,
                         samples: [median], median: median, ciLow: nil, ciHigh: nil, counters: [:], date: Date())
        }
        cache.insert(record("bitsliced", "bitmask", median: 1e-6))
        cache.insert(record("simd", "2plane-2bit", median: 3e-6))
        let layer = try PackedTernaryLinear(weights: w, dispatch: Dispatch(cache: cache, context: context), threads: 1)
        #expect(layer.decode.tuned && layer.decode.variant == "simd" && layer.decode.format == .twoPlane2Bit)
        // A one-plane layer of the same shape still takes the bitmask record.
        let one = try PackedTernaryLinear(weights: try Self.randomWeights(rows: 64, cols: 256), dispatch: Dispatch(cache: cache, context: context), threads: 1)
        #expect(one.decode.tuned && one.decode.format == .bitmask)
    }

    /// A tuning record for the layer's shape is used for that phase; the other phase falls back
    /// to the default, and two different choices hold two packed copies.
    @Test func dispatchUsesTheTuningCacheForEachPhase() throws {
        let w = try Self.randomWeights(rows: 64, cols: 256)
        let context = TuningContext(cpuFingerprint: "test-cpu", buildFingerprint: "test-build")
        var cache = TuningCache()
        func record(_ variant: String, _ format: String, tokens: Int, _ config: [String: Int], median: Double) -> TuningRecord {
            TuningRecord(context: context, problem: TuningProblem(variant: variant, format: PackedFormatKind(rawValue: format)!, rows: 64, cols: 256, tokens: tokens, threads: 1),
                         configuration: TuningConfiguration(config), status: "ok", failure: nil, samples: [median], median: median,
                         ciLow: nil, ciHigh: nil, counters: [:], date: Date())
        }
        cache.insert(record("simd", "base3", tokens: 1, ["rowBlock": 2, "tokenBlock": 1], median: 1e-6))
        cache.insert(record("simd", "2bit", tokens: 1, ["rowBlock": 4, "tokenBlock": 1], median: 2e-6))
        cache.insert(record("simd", "2plane-2bit", tokens: 1, ["rowBlock": 1], median: 1e-9))   // wrong plane count: never chosen
        let layer = try PackedTernaryLinear(weights: w, dispatch: Dispatch(cache: cache, context: context), threads: 1)
        #expect(layer.decode.tuned && layer.decode.variant == "simd" && layer.decode.format == .base3)
        #expect(layer.decode.configuration[KernelParameterName.rowBlock] == 2)
        #expect(!layer.prefill.tuned && layer.prefill.format == .twoBit)   // never GEMV tuning for GEMM
        #expect(!layer.sharesKernel && !layer.sharesWeights && layer.kind == "ternary-base3+2bit")
        #expect(layer.weightBytes == layer.decodeKernel.weightBytes + layer.prefillKernel.weightBytes)
        // A record from another CPU is ignored.
        let other = Dispatch(cache: cache, context: TuningContext(cpuFingerprint: "other", buildFingerprint: "test-build"))
        let untuned = try PackedTernaryLinear(weights: w, dispatch: other, threads: 1)
        #expect(!untuned.decode.tuned && untuned.decode.format == .twoBit)
    }

    /// Decode and prefill tuned to one format with different configurations (a GEMV and a GEMM
    /// loop) run on one packed copy, and each still equals the scalar reference; the layer
    /// counts the copy once.
    @Test func onePackedCopyServesBothPhasesOfOneFormat() throws {
        let w = try Self.randomWeights(rows: 64, cols: 256, planes: 2)
        let context = TuningContext(cpuFingerprint: "test-cpu", buildFingerprint: "test-build")
        var cache = TuningCache()
        func record(tokens: Int, _ config: [String: Int]) -> TuningRecord {
            TuningRecord(context: context, problem: TuningProblem(variant: "simd", format: .twoPlane2Bit, rows: 64, cols: 256, tokens: tokens, threads: 1),
                         configuration: TuningConfiguration(config), status: "ok", failure: nil, samples: [1e-6], median: 1e-6,
                         ciLow: nil, ciHigh: nil, counters: [:], date: Date())
        }
        cache.insert(record(tokens: 1, ["rowBlock": 2, "int16Depth": 4]))
        cache.insert(record(tokens: 64, ["rowBlock": 1, "tokenBlock": 4, "tileDecode": 1]))
        let layer = try PackedTernaryLinear(weights: w, dispatch: Dispatch(cache: cache, context: context), threads: 1)
        #expect(layer.decode.tuned && layer.prefill.tuned && !layer.sharesKernel)
        #expect(layer.decode.format == .twoPlane2Bit && layer.prefill.format == .twoPlane2Bit)
        #expect(layer.sharesWeights && layer.weightBytes == layer.decodeKernel.weightBytes)
        #expect(layer.kind == "ternary-2plane-2bit")
        let reference = try TernaryLinearKernel(weights: w, format: .twoPlane2Bit, variant: "scalar", configuration: KernelConfiguration())
        var g = SeededGenerator(seed: 5)
        for tokens in [1, 7] {
            let q = (0..<(tokens * 256)).map { _ in Int8.random(in: -128...127, using: &g) }
            let scales = (0..<tokens).map { _ in Float.random(in: 0.01...0.1, using: &g) }
            let kernel = tokens == 1 ? layer.decodeKernel : layer.prefillKernel
            #expect(kernel.forward(quantized: q, scales: scales, tokens: tokens, threads: 1)
                    == reference.forward(quantized: q, scales: scales, tokens: tokens, threads: 1))
        }
        // Packed separately, equal bytes are still two copies.
        let separate = try TernaryLinearKernel(weights: w, format: .twoPlane2Bit, variant: "simd", configuration: KernelConfiguration())
        #expect(!separate.sharesWeights(with: layer.decodeKernel))
        // A variant that cannot run the format is refused, not run.
        #expect(throws: KernelError.self) {
            try TernaryLinearKernel(sharingWeightsOf: layer.decodeKernel, variant: "lut243", configuration: KernelConfiguration())
        }
    }

    /// Where the phases' fastest formats differ, one packed copy wins unless a phase is more
    /// than `tieRatio` faster in its own format: decode takes prefill's format first, then
    /// prefill takes decode's; records of another timing regime never count as a tie.
    @Test func twoCopiesOnlyWhenEachPhaseIsMeasurablyFasterInItsOwnFormat() throws {
        let w = try Self.randomWeights(rows: 64, cols: 256, planes: 2)
        let context = TuningContext(cpuFingerprint: "test-cpu", buildFingerprint: "test-build")
        func record(_ variant: String, _ format: String, tokens: Int, median: Double, cold: Bool) -> TuningRecord {
            TuningRecord(context: context, problem: TuningProblem(variant: variant, format: PackedFormatKind(rawValue: format)!, rows: 64, cols: 256, tokens: tokens,
                                                                  threads: 1, cold: cold),
                         configuration: TuningConfiguration([:]), status: "ok", failure: nil, samples: [median], median: median,
                         ciLow: nil, ciHigh: nil, counters: [:], date: Date())
        }
        func layer(decodeSIMD: Double, prefillLUT: Double, simdCold: Bool = true) throws -> PackedTernaryLinear {
            var cache = TuningCache()
            cache.insert(record("lut243", "2plane-base3-lut", tokens: 1, median: 1.0e-6, cold: true))
            cache.insert(record("simd", "2plane-2bit", tokens: 1, median: decodeSIMD, cold: simdCold))
            cache.insert(record("simd", "2plane-2bit", tokens: 64, median: 10e-6, cold: false))
            cache.insert(record("lut243", "2plane-base3-lut", tokens: 64, median: prefillLUT, cold: false))
            return try PackedTernaryLinear(weights: w, dispatch: Dispatch(cache: cache, context: context), threads: 1)
        }
        // Decode in prefill's format ties (1.1 ≤ 1.15 × 1.0): one copy, 2plane-2bit.
        let a = try layer(decodeSIMD: 1.1e-6, prefillLUT: 20e-6)
        #expect(a.decode.format == .twoPlane2Bit && a.prefill.format == .twoPlane2Bit && a.sharesWeights)
        // Decode is measurably faster in lut243's format, but prefill there ties (11 ≤ 11.5): one copy, base3-lut.
        let b = try layer(decodeSIMD: 1.3e-6, prefillLUT: 11e-6)
        #expect(b.decode.format == .twoPlaneBase3LUT && b.prefill.format == .twoPlaneBase3LUT && b.sharesWeights)
        #expect(b.weightBytes == b.decodeKernel.weightBytes)
        // Both phases measurably faster in their own formats: two copies, counted twice.
        let c = try layer(decodeSIMD: 1.3e-6, prefillLUT: 20e-6)
        #expect(c.decode.format == .twoPlaneBase3LUT && c.prefill.format == .twoPlane2Bit && !c.sharesWeights)
        #expect(c.weightBytes == c.decodeKernel.weightBytes + c.prefillKernel.weightBytes && c.kind.contains("+"))
        // A warm decode record in prefill's format is no evidence against a cold one: no tie, two copies.
        let d = try layer(decodeSIMD: 0.5e-6, prefillLUT: 20e-6, simdCold: false)
        #expect(d.decode.format == .twoPlaneBase3LUT && !d.sharesWeights)
    }

    /// The token table in block int8 recovers the GGUF's Q8_0 values bit for bit (Float16
    /// scales, as the file stores them), and its integer GEMV stays within the activation rounding bound: each hidden
    /// value moves by at most half a step, max|x_block| / 254, so a logit moves by at most
    /// Σ_b max|x_b| / 254 · Σ_{j∈b} |w_j|.
    @Test func int8TokenTableIsLosslessForTheQ8_0Embedding() throws {
        let e = RealModel.weights.tokenEmbedding
        let q = try #require(BlockInt8Matrix(quantizing: e))
        let back = q.dequantized()
        var worst: Float = 0
        for i in 0..<e.count where e.values[i] != 0 { worst = max(worst, abs(back.values[i] - e.values[i]) / abs(e.values[i])) }
        #expect(worst == 0, "largest relative difference \(worst)")
        #expect(q.byteCount == e.count + e.count / 32 * 2)
        var cache = RealModel.model.makeCache(capacity: 16)
        let h = RealModel.model.hiddenStates(RealModel.tokenizer.encode("The capital of France is"), cache: &cache)
        let x = Array(h.values[(h.rows - 1) * h.cols..<(h.rows * h.cols)])
        var fast = [Float](repeating: 0, count: e.rows), exact = fast
        x.withUnsafeBufferPointer { xp in
            fast.withUnsafeMutableBufferPointer { q.multiply(xp.baseAddress!, tokens: 1, into: $0.baseAddress!, threads: 2) }
            exact.withUnsafeMutableBufferPointer { TokenTable.float32(e).multiply(xp.baseAddress!, tokens: 1, into: $0.baseAddress!, threads: 1) }
        }
        let step = (0..<(e.cols / 32)).map { b in (0..<32).map { abs(x[b * 32 + $0]) }.max()! / 254 }
        var outside = 0, largest: Float = 0
        for r in 0..<e.rows {
            var bound: Float = 1e-4
            for j in 0..<e.cols { bound += abs(e[r, j]) * step[j / 32] }
            if abs(fast[r] - exact[r]) > bound { outside += 1 }
            largest = max(largest, abs(fast[r] - exact[r]))
        }
        #expect(outside == 0, "\(outside) logits outside the bound; largest |Δ| \(largest)")
        #expect(argmax(fast) == argmax(exact))
        // Many tokens take the dequantize + sgemm path: equal to Float32 up to summation order.
        var many = [Float](repeating: 0, count: 8 * e.rows), manyExact = many
        let xs = Array(repeating: x, count: 8).flatMap { $0 }
        xs.withUnsafeBufferPointer { xp in
            many.withUnsafeMutableBufferPointer { q.multiply(xp.baseAddress!, tokens: 8, into: $0.baseAddress!, threads: 1) }
            manyExact.withUnsafeMutableBufferPointer { TokenTable.float32(e).multiply(xp.baseAddress!, tokens: 8, into: $0.baseAddress!, threads: 1) }
        }
        #expect(zip(many, manyExact).allSatisfy { abs($0 - $1) < 1e-3 })
    }

    /// The whole model: packed kernels vs the dequantized Float32 forward of the same file.
    ///
    /// Tolerance, measured and then set with margin (the test prints the figures): the packed
    /// runtime rounds each ternary layer's input to int8 per token (absmax), and the decode
    /// LM head's input per 32-block. Measured on 64 tokens: rms |Δlogit| 0.14, max 0.87, top-1
    /// agreement 62/64, perplexity 50.75 vs 50.90 (−0.3%). Required: rms < 0.3, max < 2.5,
    /// top-1 ≥ 90%, perplexity within 2%. A wrong scale, layout, permutation or kernel choice
    /// moves these by orders of magnitude (logits of a broken layer are noise).
    @Test func packedModelMatchesDequantizedFloatModel() throws {
        let packed = AbsmeanPackedModel.packed, reference = AbsmeanPackedModel.reference
        #expect(packed.representation == "packed:absmean")
        let runtime = packed.model.runtimeByLayerKind
        #expect(runtime["attn_q"]?.representations == ["ternary-2bit": 4, "f32": 26])
        #expect(runtime["attn_q"]?.kernels["prefill"]?.keys.allSatisfy { $0.hasSuffix("default") } == true)
        #expect(runtime["ffn_down"]?.kernels["decode"]?.values.reduce(0, +) == 4)
        #expect(runtime["lm_head"]?.summary.hasPrefix("q8_0") == true)
        #expect(reference.model.runtimeByLayerKind["attn_q"]?.representations["ternary-dequantized-f32"] == 4)

        let text = try PerplexitySource.boolqPassages.passages(EvaluationData()).prefix(3).joined(separator: "\n\n")
        let tokens = Array(RealModel.tokenizer.encode(text).prefix(256))
        var c1 = packed.model.makeCache(capacity: 256), c2 = reference.model.makeCache(capacity: 256)
        let lp = packed.model.logits(packed.model.hiddenStates(Array(tokens.prefix(64)), cache: &c1))
        let lr = reference.model.logits(reference.model.hiddenStates(Array(tokens.prefix(64)), cache: &c2))
        var maxDiff: Float = 0, sumSq = 0.0, agree = 0
        for t in 0..<lp.rows {
            var a = 0, b = 0
            for j in 0..<lp.cols {
                let d = lp[t, j] - lr[t, j]
                maxDiff = max(maxDiff, abs(d)); sumSq += Double(d * d)
                if lp[t, j] > lp[t, a] { a = j }
                if lr[t, j] > lr[t, b] { b = j }
            }
            if a == b { agree += 1 }
        }
        let rms = (sumSq / Double(lp.count)).squareRoot()
        print("packed vs dequantized f32 logits: max |Δ| \(maxDiff), rms Δ \(rms), top-1 agreement \(agree)/\(lp.rows)")
        #expect(maxDiff < 2.5 && rms < 0.3)
        #expect(agree >= lp.rows * 9 / 10)
        let options = PerplexityOptions(context: 128)
        let pp = try perplexity(model: packed.model, tokens: tokens, options: options, progress: false)
        let pr = try perplexity(model: reference.model, tokens: tokens, options: options, progress: false)
        print("ppl packed \(pp.perplexity), dequantized f32 \(pr.perplexity)")
        #expect(abs(pp.perplexity / pr.perplexity - 1) < 0.02)
        // Decode (one token at a time: the GEMV kernels and the int8 head), teacher-forced on
        // the text: the same next token at (nearly) every step.
        var d1 = packed.model.makeCache(capacity: 64), d2 = reference.model.makeCache(capacity: 64)
        _ = packed.model.hiddenStates(Array(tokens.prefix(8)), cache: &d1)
        _ = reference.model.hiddenStates(Array(tokens.prefix(8)), cache: &d2)
        var same = 0, decodeMax: Float = 0
        for t in tokens[8..<40] {
            let a = packed.model.logits(packed.model.hiddenStates([t], cache: &d1))
            let b = reference.model.logits(reference.model.hiddenStates([t], cache: &d2))
            if argmax(a.values) == argmax(b.values) { same += 1 }
            decodeMax = max(decodeMax, zip(a.values, b.values).map { abs($0 - $1) }.max()!)
        }
        print("decode: top-1 agreement \(same)/32, max |Δlogit| \(decodeMax)")
        #expect(same >= 28 && decodeMax < 2.5)
        // Memory: packed layers are a small fraction of their Float32 form (two packed copies
        // when decode and prefill kernels differ).
        let bytes = packed.model.weightBytesByKind, refBytes = reference.model.weightBytesByKind
        #expect(bytes["token embedding q8_0"] == 49152 * 576 + 49152 * 18 * 2)
        #expect(bytes["linear ternary-2bit"]! * 6 < refBytes["linear ternary-dequantized-f32"]!)
    }

    /// A block's q, k, v (and gate, up) in decode run as one kernel call
    /// (`SharedInputLinears`): on the real packed layers of a ternary block, at 1 and 2
    /// threads, each output is bit for bit that of its own call. Prefill, a layer listed twice
    /// and a mix with a float layer take separate calls, with the same results; a timed
    /// breakdown reports the group as one part.
    @Test func sharedInputGroupEqualsSeparateCalls() throws {
        let block = AbsmeanPackedModel.packed.model.blocks[AbsmeanPackedModel.ternaryBlocks.lowerBound]
        var g = SeededGenerator(seed: 26)
        func separate(_ layers: [LinearLayer], _ x: [Float], tokens: Int) -> [[Float]] {
            layers.map { l in
                var y = [Float](repeating: .nan, count: tokens * l.outputCount)
                x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { l.forward(xb, tokens: tokens, into: $0) } }
                return y
            }
        }
        func grouped(_ layers: [LinearLayer], _ x: [Float], tokens: Int) -> [[Float]] {
            let ys = layers.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: tokens * $0.outputCount) }
            defer { ys.forEach { $0.deallocate() } }
            ys.forEach { $0.initialize(repeating: .nan) }
            x.withUnsafeBufferPointer { SharedInputLinears.forward(layers, $0, tokens: tokens, into: ys) }
            return ys.map { Array($0) }
        }
        let float = FloatLinear(Matrix(rows: 5, cols: 576, values: (0..<(5 * 576)).map { _ in g.nextGaussian() }))
        for threads in [1, 2] {
            let a = block.attention, m = block.mlp
            let qkv = [a.query, a.key, a.value].map { $0.threaded(threads) }, gateUp = [m.gate, m.up].map { $0.threaded(threads) }
            #expect(qkv.allSatisfy { $0 is PackedTernaryLinear } && gateUp.allSatisfy { $0 is PackedTernaryLinear })
            for layers in [qkv, gateUp, [qkv[0], qkv[0]], [qkv[1], float]] {
                for tokens in [1, 5] {
                    let x = (0..<(tokens * 576)).map { _ in g.nextGaussian() }
                    #expect(grouped(layers, x, tokens: tokens) == separate(layers, x, tokens: tokens),
                            "\(layers.map(\.outputCount)) at \(threads) thread(s), \(tokens) token(s)")
                }
            }
            #expect(PackedTernaryLinear.group(qkv) != nil && PackedTernaryLinear.group([qkv[0], qkv[0]]) == nil)
            #expect(PackedTernaryLinear.group([qkv[1], float]) == nil)
        }
        let times = DecodeStepTimes()
        let kinds = LlamaLinearName.allCases
        let timed: [LinearLayer] = [(LlamaLinearName.gate, block.mlp.gate), (.up, block.mlp.up)].map {
            TimedLinear(index: kinds.firstIndex(of: $0.0)!, inner: $0.1, times: times)
        }
        _ = grouped(timed, (0..<576).map { _ in g.nextGaussian() }, tokens: 1)
        let gateIndex = kinds.firstIndex(of: .gate)!, upIndex = kinds.firstIndex(of: .up)!
        #expect(times.groups.keys.map { $0 } == [[gateIndex, upIndex]] && times.groups.values.allSatisfy { $0 > 0 })
        #expect(times.nanoseconds.allSatisfy { $0 == 0 })
    }

    /// The decode breakdown accounts for the whole step: its parts add up to the total, every
    /// linear kind (or group run as one call) and decode attention have time of their own, and
    /// "other" is what is left, never negative (attention counted twice would make it so).
    @Test func decodeBreakdownPartsAddUpToTheStep() throws {
        let model = AbsmeanPackedModel.packed.model
        let prompt = RealModel.tokenizer.encode("Ternary weights, measured honestly on a CPU.")
        for threads in [1, 2] {
            let b = measureDecodeBreakdown(model: model, prompt: prompt, decodeTokens: 4, threads: threads)
            let parts = b.partsMilliseconds
            let sum = parts.values.reduce(0, +)
            #expect(abs(sum - b.totalMilliseconds) <= 1e-9 * max(1, b.totalMilliseconds), "\(threads) thread(s): \(parts) vs \(b.totalMilliseconds)")
            #expect((parts["attention (scores, softmax, values)"] ?? 0) > 0, "\(threads) thread(s): \(parts)")
            #expect((parts["other"] ?? -1) >= 0 && (parts["lm head + argmax"] ?? 0) > 0, "\(threads) thread(s): \(parts)")
            for name in ["linear attn_q+attn_k+attn_v", "linear attn_output", "linear ffn_gate+ffn_up", "linear ffn_down"] {
                #expect((parts[name] ?? 0) > 0, "\(threads) thread(s): no time for \(name) in \(parts.keys.sorted())")
            }
            #expect(b.text.contains("linear attn_q+attn_k+attn_v "), "names are printed whole: \(b.text)")
        }
    }

    /// `measureSpeed` interleaves the thread counts: each gets one sample per round, its medians
    /// are those of its samples, and the speedup is the median of per-round ratios (a round where
    /// the guest slowed down slows both counts, and the ratio cancels it).
    @Test func speedRoundsPairTheThreadCounts() throws {
        let model = AbsmeanPackedModel.packed.model
        let prompt = RealModel.tokenizer.encode("Ternary weights, measured honestly on a CPU.")
        let results = measureSpeed(model: model, prompt: prompt, decodeTokens: 2, threadCounts: [1, 2], rounds: 3)
        #expect(results.map(\.threads) == [1, 2])
        for r in results {
            let d = try #require(r.decodeSamples), p = try #require(r.prefillSamples)
            #expect(d.count == 3 && p.count == 3 && r.repeats == 3)
            #expect(d.allSatisfy { $0.isFinite && $0 > 0 } && p.allSatisfy { $0.isFinite && $0 > 0 })
            #expect(r.decodeTokensPerSecond == Statistics.median(d) && r.prefillTokensPerSecond == Statistics.median(p))
            #expect(r.decodeInterval.low <= r.decodeTokensPerSecond && r.decodeTokensPerSecond <= r.decodeInterval.high)
        }
        let measured = results[1].speedup(over: results[0]).decode
        let ratios = zip(results[1].decodeSamples!, results[0].decodeSamples!).map { $0 / $1 }
        #expect(measured.median == Statistics.median(ratios) && measured.low <= measured.median && measured.median <= measured.high)
        // Known answer: a guest twice as slow in rounds 2 and 4 moves both medians, not the ratio.
        var base = results[0], fast = results[1]
        base.decodeSamples = [100, 50, 100, 50, 100]; fast.decodeSamples = [150, 75, 150, 75, 150]
        let s = fast.speedup(over: base).decode
        #expect(s.median == 1.5 && s.low == 1.5 && s.high == 1.5)
        // Results stored before rounds have no samples: no interval, no ratio, and no crash.
        base.decodeSamples = nil
        #expect(fast.speedup(over: base).decode.median.isNaN && base.decodeInterval.low.isNaN)
    }

    /// Real activations, one layer at a time: each packed layer of a ternary block against its
    /// Float32 form on the inputs the reference model really feeds it, within the int8
    /// activation-rounding bound of the single-layer test (no amplification through depth).
    @Test func everyPackedLayerKindMatchesOnRealActivations() throws {
        let tokens = RealModel.tokenizer.encode("Ternary weights, measured honestly on a CPU.")
        let n = tokens.count, b = AbsmeanPackedModel.ternaryBlocks.lowerBound
        // Blocks run in order, so a kind's recorded rows are block 0's n rows, then block 1's, …
        let recorder = LinearInputRecorder(maxRowsPerLayer: 30 * n)
        let ref = AbsmeanPackedModel.reference.model.mappingLinears { kind, layer in
            RecordingLinear(name: kind.rawValue, inner: layer, recorder: recorder)
        }
        var cache = ref.makeCache(capacity: 32)
        _ = ref.hiddenStates(tokens, cache: &cache)
        let block = AbsmeanPackedModel.packed.model.blocks[b], refBlock = AbsmeanPackedModel.reference.model.blocks[b]
        for ((kind, packedLayer), (_, floatLayer)) in zip(block.linears, refBlock.linears) {
            let all = try #require(recorder.inputs(of: kind.rawValue))
            #expect(all.rows == 30 * n)
            let x = Matrix(rows: n, cols: all.cols, values: Array(all.values[(b * n * all.cols)..<((b + 1) * n * all.cols)]))
            #expect(packedLayer is PackedTernaryLinear)
            let dense = (floatLayer as! FloatLinear).weights
            var y = [Float](repeating: 0, count: x.rows * dense.rows), r = y
            x.values.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { packedLayer.forward(xp, tokens: x.rows, into: $0) }
                r.withUnsafeMutableBufferPointer { floatLayer.forward(xp, tokens: x.rows, into: $0) }
            }
            var outside = 0
            for t in 0..<x.rows {
                let amax = (0..<x.cols).map { abs(x[t, $0]) }.max()!
                for i in 0..<dense.rows {
                    var bound: Float = 1e-3
                    for j in 0..<dense.cols { bound += abs(dense[i, j]) * amax / 254 }
                    if abs(y[t * dense.rows + i] - r[t * dense.rows + i]) > bound { outside += 1 }
                }
            }
            #expect(outside == 0, "\(kind): \(outside) outputs outside the bound")
        }
    }
}

/// Writes the whole model absmean-ternarized (every linear layer, groups of 128) to the path in
/// `TRITMODEL_WRITE_PACKED`, for `tritbench eval --model <it> --speed` until `tritbench quantize
/// --model` exists. Disabled (not run) when the variable is unset.
@Suite("packed model fixture")
struct PackedModelFixture {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TRITMODEL_WRITE_PACKED"] != nil))
    func writeWholeModelAbsmean() throws {
        let target = ProcessInfo.processInfo.environment["TRITMODEL_WRITE_PACKED"]!
        let path = try AbsmeanPackedModel.write(name: "smollm2-absmean-all") { _ in true }
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: path, toPath: target)
        #expect(PackedModelFile.looksLikePackedModel(path: target))
    }
}
