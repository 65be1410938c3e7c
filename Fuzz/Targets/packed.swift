import Foundation

/// libFuzzer target: arbitrary bytes through the packed-model reader. The file's SHA-256 covers
/// everything before it, so raw mutations almost always stop at the checksum; the target also
/// re-seals the mutated body (recomputes the trailing SHA-256) so that the header, the directory
/// and the records behind the checksum are fuzzed too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacked(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    _ = try? PackedModelFile.decode(data, path: "fuzz.trit")
    if size > 32 {
        var sealed = Data(data.prefix(size - 32))
        var sha = SHA256()
        sealed.withUnsafeBytes { sha.update($0) }
        sealed.append(contentsOf: sha.finalize())
        if let f = try? PackedModelFile.decode(sealed, path: "fuzz.trit") {
            _ = f.resolvedSourcePath(packedPath: "/nonexistent/fuzz.trit")
        }
    }
    return 0
}
