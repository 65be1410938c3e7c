// The fuzz build compiles the parsers without swift-crypto (a plain swiftc build cannot link
// its BoringSSL objects), so the packed-model checksum uses this stand-in: four FNV-1a lanes
// over the bytes, 32 bytes out, with SHA256's API. The reader compares stored and computed
// digests the same way whichever function computes them, and the fuzz target re-seals its
// inputs with the same type; the real SHA-256 is tested against FIPS 180-4 in TritCoreTests.
struct SHA256 {
    private var lanes: [UInt64] = [0xcbf29ce484222325, 0x84222325cbf29ce4, 0x9ce484222325cbf2, 0x2325cbf29ce48422]
    private var count = 0

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        for b in bytes {
            lanes[count & 3] = (lanes[count & 3] ^ UInt64(b)) &* 0x100000001b3
            count += 1
        }
    }

    mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update($0) }
    }

    mutating func finalize() -> [UInt8] {
        lanes.flatMap { lane in (0..<8).map { UInt8(truncatingIfNeeded: lane >> (8 * $0)) } }
    }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var s = SHA256(); s.update(bytes)
        return s.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
