import Foundation

extension PackedFormatKind {
    /// The type that packs and stores this kind: the one place a new format is registered.
    public var storage: any PackedTernaryFormat.Type {
        switch self {
        case .twoBit, .twoPlane2Bit: return TwoBitTernaryMatrix.self
        case .base3, .twoPlane: return Base3TernaryMatrix.self
        case .bitmask: return BitmaskTernaryMatrix.self
        case .lut: return LUTTernaryMatrix.self
        case .base3LUT, .twoPlaneBase3LUT: return Base3LUTTernaryMatrix.self
        }
    }
}

/// Errors raised while packing weights or building kernels.
public enum PackedFormatError: Error, CustomStringConvertible, Equatable {
    case planeCount(format: PackedFormatKind, expected: String, got: Int)
    case unsupported(format: PackedFormatKind, field: String, reason: String)

    public var description: String {
        switch self {
        case let .planeCount(f, e, g):
            return "packed format '\(f.rawValue)': holds \(e) trit plane(s), the weights have \(g)"
        case let .unsupported(f, field, reason):
            return "packed format '\(f.rawValue)': field '\(field)': \(reason)"
        }
    }
}

/// What every packed format offers: built from `TernaryWeights`, unpacked back exactly, and
/// sized honestly (bits per weight count the side data and the padding).
public protocol PackedTernaryFormat: Sendable {
    /// The format kind this value is (some types serve a one-plane and a two-plane kind).
    var kind: PackedFormatKind { get }
    var side: TernarySideData { get }
    init(packing weights: TernaryWeights) throws
    /// The logical weights back; equal to the packed weights after `roundedToHalfPrecision()`.
    func unpack() -> TernaryWeights
    /// Bytes of packed trits plus side data.
    var weightBytes: Int { get }
    /// The same layer in freshly allocated memory.
    func duplicated() -> Self
    /// The packed trits (a reference: copies of this value share it).
    var trits: AlignedBuffer { get }
    /// Codes w + 1 ∈ {0, 1, 2} of columns 32v … 32v + 31 of (plane, row), 1 (weight 0) past the
    /// last column: what the portable loop (every variant's fallback) multiplies with, so any
    /// format runs on every CPU without a loop of its own.
    func portableCodes(plane: Int, row: Int, vector v: Int) -> SIMD32<UInt8>
}

extension PackedTernaryFormat {
    public var rows: Int { side.rows }
    public var cols: Int { side.cols }
    public var bitsPerWeight: Double { Double(weightBytes * 8) / Double(side.rows * side.cols) }
}

/// One buffer of packed trits beside its side data: how every format stores a layer. Sizing and
/// copying in fresh memory are the same for all of them, so they live here once.
protocol PackedStorage {
    var buffer: AlignedBuffer { get set }
    var side: TernarySideData { get set }
}

extension PackedStorage {
    /// Bytes of packed trits plus side data.
    var storedBytes: Int { buffer.count + side.byteCount }

    /// The same storage in freshly allocated memory (benchmarks' cold copies).
    func duplicatedStorage() -> Self {
        var c = self
        c.buffer = buffer.copy()
        c.side = side.duplicated()
        return c
    }
}

/// 64-byte aligned, zero-initialised raw storage with slack after the end, so SIMD loops may
/// read (never use) a full vector past the last packed byte. A class so that a packed layer and
/// the kernels built on it share one copy; immutable after packing, hence Sendable.
public final class AlignedBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutableRawPointer
    /// Bytes readable past `count` (zeros).
    public static let slack = 128

    public init(byteCount: Int) {
        count = byteCount
        let total = (byteCount + AlignedBuffer.slack + 63) & ~63
        #if os(Linux)
        if total >= Self.hugePageBytes {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: Self.hugePageBytes)
            // Advice only: where the kernel has no huge page to give, the buffer keeps 4 KiB pages.
            _ = madvise(pointer, (total + 4095) & ~4095, MADV_HUGEPAGE)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: total)
            return
        }
        #endif
        pointer = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: total)
    }

    /// Buffers of at least this many bytes start on a 2 MiB boundary and are advised onto
    /// transparent huge pages (`MADV_HUGEPAGE`), before their first touch.
    ///
    /// Why: these guests run THP in `madvise` mode, so without the advice a large layer's
    /// weights sit on 4 KiB pages, and a cold GEMV streaming them takes a TLB miss every 4 KiB,
    /// where the hardware prefetchers also stop. Smaller buffers keep the heap's 64-byte
    /// alignment: a 2 MiB boundary for each would waste most of a huge page.
    public static let hugePageBytes = 2 << 20

    deinit { pointer.deallocate() }

    public var bytes: UnsafeMutablePointer<UInt8> { pointer.assumingMemoryBound(to: UInt8.self) }
    public func typed<T>(_: T.Type) -> UnsafeMutablePointer<T> { pointer.assumingMemoryBound(to: T.self) }

    func copy() -> AlignedBuffer {
        let b = AlignedBuffer(byteCount: count)
        b.pointer.copyMemory(from: pointer, byteCount: count)
        return b
    }
}

/// The side data every format stores beside its trits, as Float16, laid out for the kernels'
/// epilogue: rows are tiled by 8, and inside a tile the 8 rows of one group are adjacent, so a
/// kernel reads the scales of 8 rows of a group with one 16-byte load (`vcvtph2ps`).
///
///     scales[p] / offsets : [tile = row / 8][group][row % 8]   Float16
///     bias                : [row]  (rows padded to 8, padding 0)   Float16
///     permutation         : [col]  UInt32 (input column read by packed column j)
///
/// Padding rows carry zero scales, so kernels may compute whole tiles.
public struct TernarySideData: Sendable {
    public static let tileRows = 8
    public let rows: Int
    public let cols: Int
    public let groupSize: Int
    public let planeCount: Int
    public let groupsPerRow: Int
    public var tiles: Int { (rows + 7) / 8 }
    /// Float16 bits, one buffer per plane.
    public private(set) var scales: [AlignedBuffer]
    public private(set) var offsets: AlignedBuffer?
    public private(set) var bias: AlignedBuffer?
    public let permutation: [UInt32]?

    public init(_ w: TernaryWeights) {
        rows = w.rows; cols = w.cols; groupSize = w.groupSize
        planeCount = w.planes.count; groupsPerRow = w.groupsPerRow
        let ng = groupsPerRow, tiles = (rows + 7) / 8
        func tiled(_ values: [Float]) -> AlignedBuffer {
            let b = AlignedBuffer(byteCount: tiles * ng * 8 * 2)
            let p = b.typed(Float16.self)
            for r in 0..<w.rows { for g in 0..<ng { p[((r / 8) * ng + g) * 8 + r % 8] = Float16(values[r * ng + g]) } }
            return b
        }
        scales = w.scales.map(tiled)
        offsets = w.offsets.map(tiled)
        bias = w.bias.map { values in
            let b = AlignedBuffer(byteCount: tiles * 8 * 2)
            let p = b.typed(Float16.self)
            for r in 0..<values.count { p[r] = Float16(values[r]) }
            return b
        }
        permutation = w.permutation.map { $0.map { UInt32($0) } }
    }

    /// Bytes of side data as stored (tile padding included).
    public var byteCount: Int {
        scales.reduce(0) { $0 + $1.count } + (offsets?.count ?? 0) + (bias?.count ?? 0)
            + (permutation?.count ?? 0) * 4
    }

    func duplicated() -> TernarySideData {
        var c = self
        c.scales = scales.map { $0.copy() }
        c.offsets = offsets?.copy()
        c.bias = bias?.copy()
        return c
    }

    func untiled(_ b: AlignedBuffer) -> [Float] {
        let p = b.typed(Float16.self), ng = groupsPerRow
        var out = [Float](repeating: 0, count: rows * ng)
        for r in 0..<rows { for g in 0..<ng { out[r * ng + g] = Float(p[((r / 8) * ng + g) * 8 + r % 8]) } }
        return out
    }

    /// Rebuilds `TernaryWeights` around unpacked planes.
    func weights(planes: [[Int8]]) -> TernaryWeights {
        // The fields were validated when packing; this cannot fail for planes of the right shape.
        do {
            return try TernaryWeights(
                rows: rows, cols: cols, groupSize: groupSize, planes: planes,
                scales: scales.map(untiled), offsets: offsets.map(untiled),
                permutation: permutation.map { $0.map { Int32($0) } },
                bias: bias.map { b in (0..<rows).map { Float(b.typed(Float16.self)[$0]) } })
        } catch {
            preconditionFailure("unpacking produced invalid weights: \(error)")
        }
    }
}

/// Where the 32-byte units of the decode + multiply-add formats live: rows are tiled by 8 and,
/// inside a tile, unit u of the 8 rows is 256 contiguous bytes, so a kernel walking a block of
/// rows along K reads one sequential stream (DRAM and the prefetchers like that far better than
/// 4–8 separate row streams).
///
///     byte offset of (plane p, row r, unit u) = ((p · tiles + r/8) · units + u) · 256 + (r % 8) · 32
public struct RowTiledLayout: Sendable {
    public let rows: Int
    public let planes: Int
    public let units: Int
    public var tiles: Int { (rows + 7) / 8 }
    public var tileStride: Int { units * 256 }
    public var planeStride: Int { tiles * tileStride }
    public var byteCount: Int { planes * planeStride }
    public static let unitStride = 256
    public static let rowStride = 32
    @inlinable public func offset(plane p: Int, row r: Int, unit u: Int) -> Int {
        ((p * ((rows + 7) / 8) + r / 8) * units + u) * 256 + (r % 8) * 32
    }
}
