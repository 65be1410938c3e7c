import Foundation

/// libFuzzer target: arbitrary bytes through the `.npy` reader. Any thrown error is fine; a
/// trap, an out-of-bounds access (AddressSanitizer) or a leak-free hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    _ = try? NPY.decode(data, path: "fuzz.npy")
    _ = try? NPY.decode(data, path: "fuzz.npy", allowNonFinite: true)
    return 0
}
