/// What a report says about the model a run measured: its name, architecture, how its linear
/// weights are stored, and whether it ships ternary (then it is evaluated as it is, not
/// quantized). Read from the GGUF's metadata and tensor table alone.
public struct ModelDescription: Codable, Equatable, Sendable {
    /// `general.name`, else the file name.
    public var name: String
    public var file: String
    /// `general.architecture`.
    public var architecture: String
    /// Storage types of the linear layers (`blk.N.<linear>.weight`), most frequent first.
    public var linearTypes: [String]
    /// Every linear layer is TQ1_0 or TQ2_0 (BitNet as llama.cpp stores it).
    public var shipsTernary: Bool
    /// Bits per weight of the linear layers as stored (block bytes × 8 / block size, averaged).
    public var linearBitsPerWeight: Double

    public init(gguf: GGUFFile) throws {
        let c = try LlamaConfiguration(gguf: gguf)
        file = String(gguf.path.split(separator: "/").last ?? Substring(gguf.path))
        name = gguf.metadata["general.name"]?.string ?? file
        architecture = c.architecture.name
        var counts: [GGMLType: Int] = [:], bits = 0.0, weights = 0
        for b in 0..<c.blockCount {
            for l in LlamaLinearName.allCases {
                let t = try gguf.requireTensor(l.tensorName(block: b))
                counts[t.type, default: 0] += 1
                bits += Double(t.byteCount) * 8
                weights += t.elementCount
            }
        }
        linearTypes = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.description < $1.key.description }
            .map(\.key.description)
        shipsTernary = counts.keys.allSatisfy { $0 == .tq1_0 || $0 == .tq2_0 }
        linearBitsPerWeight = weights > 0 ? bits / Double(weights) : 0
    }

    /// "Q4_1" or "Q5_0/Q4_K/Q8_0/Q6_K".
    public var storage: String { linearTypes.joined(separator: "/") }

    /// One line for the report: "SmolLM2 … (llama), SmolLM2-135M-Instruct.Q4_1.gguf, linear layers Q4_1".
    public var summary: String { "\(name) (\(architecture)), \(file), linear layers \(storage) (\(String(format: "%.3f", linearBitsPerWeight)) bits per weight)" }
}
