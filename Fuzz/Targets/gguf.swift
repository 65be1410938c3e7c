import Foundation

/// libFuzzer target: arbitrary bytes through the GGUF reader, then through everything a model
/// load does with a parsed file before the forward pass: every tensor dequantized (sizes are
/// bounded by the file, so this stays small), the vocabulary checks, the configuration.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let file = try? GGUFFile(data: Data(bytes: bytes, count: size), path: "fuzz.gguf") else { return 0 }
    for t in file.tensors { _ = try? file.floats(of: t) }
    _ = try? VocabularyConsistency.check(file)
    _ = try? LlamaConfiguration(gguf: file)
    for key in file.metadataKeys {
        _ = try? file.strings(key); _ = try? file.integers(key); _ = try? file.integer(key); _ = try? file.float(key)
    }
    return 0
}
