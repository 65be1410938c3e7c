import Crypto
import Foundation

/// SHA-256 for the packed model file's checksum, the source GGUF's identity and the stage
/// cache's keys: swift-crypto's (BoringSSL's assembly on Linux, several times faster than a
/// Swift loop over the 100 MB GGUF), behind the three calls the package makes of it.
public struct SHA256: Sendable {
    private var hasher = Crypto.SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest.
    public mutating func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// Lower-case hex digest of some bytes.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var s = SHA256(); s.update(bytes)
        return s.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = SHA256(); s.update(bytes)
        return s.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
