import TritCore

/// What evaluation, speed measurement and the report need of a decoder-only language model,
/// whatever its architecture: a forward over a batch of tokens with a KV cache, log-probabilities
/// and logits from the hidden states, its linear layers (the shapes the tuner measures), and
/// copies for other thread counts. Perplexity, zero-shot scoring and the speed measurement take
/// any conforming model, so a new architecture conforms once rather than editing each of them.
public protocol DecoderModel {
    /// The GGUF `general.architecture` this type runs ("llama").
    static var architecture: String { get }
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    /// Threads of the model's own kernels (OpenBLAS has its own setting).
    var threads: Int { get }
    /// The same model for `n` threads.
    func threaded(_ n: Int) -> Self
    /// A copy for another thread to run at the same time (own scratch, shared weights).
    func replica() -> Self
    func makeCache(capacity: Int) -> KVCache
    /// Final hidden states (tokens × dim) of `tokens` after what `cache` holds.
    func hiddenStates(_ tokens: [Int32], cache: inout KVCache, segments: TokenSegments?) -> Matrix
    /// Logits of `count` rows of `hidden` from row `first` (nil: to the end).
    func logits(_ hidden: Matrix, first: Int, count: Int?) -> Matrix
    /// log p(targets[i]) from row first + i of `hidden`.
    func logProbabilities(_ hidden: Matrix, first: Int, targets: [Int32]) -> [Double]
    /// log p(targets[i]) from row rows[i] of `hidden`.
    func logProbabilities(_ hidden: Matrix, rows: [Int], targets: [Int32]) -> [Double]
    /// Every linear layer as the tuner sees it: its tensor name and shape.
    var linearShapes: [LinearLayerShape] { get }
    /// Weight bytes as held, by representation.
    var weightBytesByKind: [String: Int] { get }
    /// The representations and kernels the layers run, by layer kind.
    var runtimeByLayerKind: [String: LayerRuntime] { get }
}

/// One linear layer's name and shape (rows = outputs, cols = inputs).
public struct LinearLayerShape: Hashable, Sendable {
    public var name: String
    public var shape: MatrixShape
    public init(name: String, shape: MatrixShape) { self.name = name; self.shape = shape }
}

extension DecoderModel {
    /// The tokens as one causal sequence after what the cache holds.
    public func hiddenStates(_ tokens: [Int32], cache: inout KVCache) -> Matrix {
        hiddenStates(tokens, cache: &cache, segments: nil)
    }

    /// Logits of every row of `hidden`.
    public func logits(_ hidden: Matrix) -> Matrix { logits(hidden, first: 0, count: nil) }

    /// The distinct linear shapes, in the order the model first uses them: what to tune.
    public var distinctLinearShapes: [MatrixShape] {
        var seen = Set<MatrixShape>()
        return linearShapes.map(\.shape).filter { seen.insert($0).inserted }
    }
}

extension LlamaModel: DecoderModel {
    public static let architecture = "llama"
    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }

    public var linearShapes: [LinearLayerShape] {
        blocks.enumerated().flatMap { b, block in
            block.linears.compactMap { name, layer in
                MatrixShape(rows: layer.outputCount, cols: layer.inputCount)
                    .map { LinearLayerShape(name: name.tensorName(block: b), shape: $0) }
            }
        }
    }
}
