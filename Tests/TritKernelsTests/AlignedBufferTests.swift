import Foundation
import Testing
@testable import TritKernels

/// `AlignedBuffer`: zero-filled with readable slack; buffers of 2 MiB and more start on a 2 MiB
/// boundary and, on Linux, sit in a mapping advised onto transparent huge pages.
@Suite struct AlignedBufferTests {
    @Test(arguments: [1, 4096, AlignedBuffer.hugePageBytes - 200, AlignedBuffer.hugePageBytes, 3 * AlignedBuffer.hugePageBytes + 5])
    func alignmentZerosAndHugePageAdvice(bytes: Int) throws {
        let b = AlignedBuffer(byteCount: bytes)
        let address = UInt(bitPattern: b.pointer)
        let huge = bytes + AlignedBuffer.slack > AlignedBuffer.hugePageBytes - 64
        #expect(address % UInt(huge ? AlignedBuffer.hugePageBytes : 64) == 0, "\(bytes) bytes at \(String(address, radix: 16))")
        let all = UnsafeBufferPointer(start: b.bytes, count: bytes + AlignedBuffer.slack)
        #expect(all.allSatisfy { $0 == 0 }, "\(bytes) bytes: not zero-filled through the slack")
        #if os(Linux)
        guard huge, let enabled = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8),
              !enabled.contains("[never]") else { return }
        // The mapping that holds the buffer carries the advice: VmFlags has "hg" (MADV_HUGEPAGE)
        // whether or not the kernel had a huge page to give. /proc files report size 0, so
        // they are read to their end, not by their size.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var inside = false, flags: [Substring]?
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let ends = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = ends.count == 2 && ends[0] <= address && address < ends[1]
            } else if inside, fields.first == "VmFlags:" {
                flags = Array(fields.dropFirst())
            }
        }
        let found = try #require(flags, "\(bytes) bytes: no mapping in /proc/self/smaps holds \(String(address, radix: 16))")
        #expect(found.contains("hg"), "\(bytes) bytes: its mapping is not advised onto huge pages (VmFlags \(found))")
        #endif
    }
}
