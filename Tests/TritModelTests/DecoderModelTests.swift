import Foundation
import Testing
import TritCore
@testable import TritModel

/// The decoder protocol over the real SmolLM2 file: the shapes the tuner measures come from the
/// model, and agree whether read from the configuration alone or from the loaded layers.
@Suite struct DecoderModelTests {
    @Test func linearShapesComeFromTheModel() throws {
        let model = RealModel.model
        #expect(LlamaModel.architecture == (try RealModel.gguf.string("general.architecture")))
        #expect(model.linearShapes.count == 7 * model.configuration.blockCount)
        #expect(model.linearShapes.first?.name == "blk.0.attn_q.weight")
        let fromLayers = model.distinctLinearShapes.map { "\($0)" }
        let fromConfiguration = model.configuration.distinctLinearShapes.map { "\($0.rows)x\($0.cols)" }
        #expect(fromLayers == fromConfiguration)
        #expect(fromLayers == ["576x576", "192x576", "1536x576", "576x1536"])
        // Every layer's shape is the one its configuration names.
        for s in model.linearShapes {
            let name = try #require(LlamaLinearName.allCases.first { s.name.contains(".\($0.rawValue).") })
            let c = model.configuration.shape(of: name)
            #expect(s.shape.rows == c.rows && s.shape.cols == c.cols, "\(s.name)")
        }
    }

    /// Perplexity through the protocol equals the model's own forward, token by token.
    @Test func perplexityThroughTheProtocolMatchesTheForward() throws {
        func viaProtocol<M: DecoderModel>(_ m: M, _ tokens: [Int32]) -> Double {
            var cache = m.makeCache(capacity: tokens.count)
            let h = m.hiddenStates(Array(tokens.dropLast()), cache: &cache)
            return -m.logProbabilities(h, first: 0, targets: Array(tokens.dropFirst())).reduce(0, +)
        }
        let tokens = RealModel.tokenizer.encode("The quick brown fox jumps over the lazy dog.")
        let r = try perplexity(model: RealModel.model, tokens: tokens,
                               options: PerplexityOptions(context: tokens.count, stride: tokens.count), progress: false)
        let nll = viaProtocol(RealModel.model, tokens)
        #expect(abs(r.perplexity - exp(nll / Double(tokens.count - 1))) < 1e-9 * r.perplexity)
    }
}
