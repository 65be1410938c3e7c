import Testing
import TritCore

@Suite("SHA-256")
struct SHA256Tests {
    /// FIPS 180-4's examples, and streaming in odd pieces equal to one shot.
    @Test func knownVectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Streaming in odd pieces equals one shot.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = SHA256()
        s.update(bytes[0..<3]); s.update(bytes[3..<130]); s.update(bytes[130...])
        #expect(s.finalize().map { String(format: "%02x", $0) }.joined() == SHA256.hex(bytes))
    }
}
