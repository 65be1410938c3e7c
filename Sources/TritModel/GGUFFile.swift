import Foundation
import TritCore

/// Errors from reading a GGUF file. Each names the file, the byte offset and the field, and
/// says what was expected, so that a damaged or foreign file is diagnosed without a hex dump.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case badMagic(path: String, found: String)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, offset: Int, field: String, needed: Int, available: Int)
    case unknownValueType(path: String, offset: Int, key: String, type: UInt32)
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    case invalidField(path: String, offset: Int, field: String, reason: String)
    case shapeMismatch(tensor: String, expected: String, found: String)
    case tensorOutOfRange(path: String, tensor: String, offset: Int, length: Int, fileSize: Int)
    case missingTensor(name: String)
    case missingKey(key: String)
    case wrongKeyType(key: String, expected: String, found: String)
    /// Two fields of one file that disagree (e.g. a bos id beyond the vocabulary size).
    case inconsistent(path: String, field: String, value: String, other: String, otherValue: String, expected: String)
    /// A NaN or infinite weight, norm or embedding value after dequantization.
    case nonFinite(path: String, tensor: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "GGUF \(path): cannot open: \(reason)"
        case let .badMagic(path, found):
            return "GGUF \(path): offset 0, field 'magic': expected \"GGUF\", found \(found) — not a GGUF file"
        case let .unsupportedVersion(path, v):
            return "GGUF \(path): offset 4, field 'version': version \(v) is not supported (expected 2 or 3)"
        case let .truncated(path, offset, field, needed, available):
            return "GGUF \(path): truncated at offset \(offset) reading '\(field)': needed \(needed) bytes, \(available) left"
        case let .unknownValueType(path, offset, key, type):
            return "GGUF \(path): offset \(offset), metadata '\(key)': unknown value type \(type) (expected 0...12)"
        case let .unknownTensorType(path, tensor, type):
            return "GGUF \(path): tensor '\(tensor)': unknown or unsupported ggml type \(type) (supported: \(GGMLType.allCases.map { "\($0)" }.joined(separator: ", ")))"
        case let .invalidField(path, offset, field, reason):
            return "GGUF \(path): offset \(offset), field '\(field)': \(reason)"
        case let .shapeMismatch(tensor, expected, found):
            return "GGUF tensor '\(tensor)': shape mismatch: expected \(expected), found \(found)"
        case let .tensorOutOfRange(path, tensor, offset, length, size):
            return "GGUF \(path): tensor '\(tensor)': data at offset \(offset) with length \(length) runs past the end of the file (\(size) bytes)"
        case let .missingTensor(name): return "GGUF: required tensor '\(name)' is missing"
        case let .missingKey(key): return "GGUF: required metadata key '\(key)' is missing"
        case let .wrongKeyType(key, expected, found):
            return "GGUF: metadata key '\(key)' has type \(found), expected \(expected)"
        case let .nonFinite(path, tensor, index, value):
            return "GGUF \(path): tensor '\(tensor)': element \(index) is \(value); expected finite values (NaN or Inf weights, norms and embeddings are rejected)"
        case let .inconsistent(path, field, value, other, otherValue, expected):
            return "GGUF \(path): field '\(field)' = \(value) disagrees with '\(other)' = \(otherValue): expected \(expected)"
        }
    }
}

/// One metadata value of a GGUF file, typed as stored.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// Arrays keep their element type so that an empty array still says what it would hold.
    case array(elementType: UInt32, values: [GGUFValue])

    /// The value as an integer when it is any integer type (GGUF writers differ in width).
    public var integer: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value as a floating-point number when it is a float or an integer.
    public var floatingPoint: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return integer.map(Double.init)
        }
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case let .array(_, v) = self { return v }; return nil }

    /// Name of the stored type, for error messages.
    public var typeName: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .float32: return "float32"
        case .bool: return "bool"
        case .string: return "string"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float64: return "float64"
        case let .array(t, _): return "array<\(t)>"
        }
    }
}

/// Where one tensor lives in a GGUF file and how it is stored.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// ggml order: `dimensions[0]` is the fastest-varying (input) dimension.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset relative to the start of the tensor data section, as stored.
    public let relativeOffset: Int
    /// Absolute offset in the file.
    public let fileOffset: Int

    /// Elements (the product of the dimensions); checked for overflow and against the file's
    /// size when the file was parsed, so it is never computed from unchecked numbers.
    public let elementCount: Int
    /// Bytes of stored data (whole quantization blocks), checked like `elementCount`.
    public let byteCount: Int
}

/// A parsed GGUF file (versions 2 and 3) with its tensor data memory-mapped.
///
/// The header, metadata and tensor table are parsed eagerly and checked; tensor data stays in
/// the mapping and is only touched when a tensor is dequantized, so opening a file is cheap.
public struct GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int
    /// The whole file, memory-mapped (read-only) when opened from a path.
    public let data: Data

    private let tensorIndex: [String: Int]

    /// Opens and memory-maps `path`, then parses and validates it.
    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw GGUFError.cannotOpen(path: path, reason: "\(error.localizedDescription)")
        }
        try self.init(data: data, path: path)
    }

    /// Parses GGUF bytes already in memory (`path` only labels errors).
    public init(data: Data, path: String) throws {
        let data = data.startIndex == 0 ? data : Data(data)
        self.path = path
        self.data = data
        var r = GGUFByteReader(data: data, path: path)
        let magic = try r.bytes(4, field: "magic")
        guard magic == [0x47, 0x47, 0x55, 0x46] else {
            // The bytes themselves are not echoed: the file may be anything (a key, a password file).
            throw GGUFError.badMagic(path: path, found: Self.describeForeignMagic(magic))
        }
        version = try r.u32(field: "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        let tensorCount = try r.count(field: "tensor_count", limit: 1 << 24)
        let kvCount = try r.count(field: "metadata_kv_count", limit: 1 << 24)

        var keys: [String] = []
        var md: [String: GGUFValue] = [:]
        for i in 0..<kvCount {
            let key = try r.string(field: "metadata[\(i)].key")
            let typeOffset = r.offset
            let type = try r.u32(field: "metadata '\(key)' type")
            let value = try r.value(type: type, key: key, typeOffset: typeOffset)
            if md[key] == nil { keys.append(key) }
            md[key] = value
        }
        metadataKeys = keys
        metadata = md

        var align = 32
        if let a = md["general.alignment"] {
            guard let v = a.integer, v > 0, v & (v - 1) == 0 else {
                throw GGUFError.invalidField(path: path, offset: 0, field: "general.alignment",
                                             reason: "expected a positive power of two, found \(a)")
            }
            align = v
        }
        alignment = align

        struct RawInfo { let name: String; let dims: [Int]; let type: GGMLType; let offset: Int; let at: Int }
        var raw: [RawInfo] = []
        raw.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let at = r.offset
            let name = try r.string(field: "tensor[\(i)].name")
            let nd = try r.u32(field: "tensor '\(name)' n_dims")
            guard nd >= 1 && nd <= 4 else {
                throw GGUFError.invalidField(path: path, offset: r.offset - 4, field: "tensor '\(name)' n_dims",
                                             reason: "expected 1...4 dimensions, found \(nd)")
            }
            var dims: [Int] = []
            for d in 0..<Int(nd) {
                let v = try r.u64(field: "tensor '\(name)' ne[\(d)]")
                guard v > 0 && v < (1 << 40) else {
                    throw GGUFError.invalidField(path: path, offset: r.offset - 8, field: "tensor '\(name)' ne[\(d)]",
                                                 reason: "expected a dimension in 1..<2^40, found \(v)")
                }
                dims.append(Int(v))
            }
            let typeRaw = try r.u32(field: "tensor '\(name)' type")
            guard let type = GGMLType(rawValue: typeRaw) else {
                throw GGUFError.unknownTensorType(path: path, tensor: name, type: typeRaw)
            }
            if dims[0] % type.blockSize != 0 {
                throw GGUFError.shapeMismatch(tensor: name, expected: "ne[0] a multiple of the \(type) block size \(type.blockSize)",
                                              found: "ne[0] = \(dims[0])")
            }
            let off = try r.u64(field: "tensor '\(name)' offset")
            guard off < UInt64(Int.max / 2) else {
                throw GGUFError.invalidField(path: path, offset: r.offset - 8, field: "tensor '\(name)' offset", reason: "offset \(off) is out of range")
            }
            if Int(off) % align != 0 {
                throw GGUFError.invalidField(path: path, offset: r.offset - 8, field: "tensor '\(name)' offset",
                                             reason: "offset \(off) is not a multiple of the alignment \(align)")
            }
            raw.append(RawInfo(name: name, dims: dims, type: type, offset: Int(off), at: at))
        }
        let start = (r.offset + align - 1) / align * align
        dataOffset = start
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for t in raw {
            // Element count, byte count and end offset, each overflow-checked and bounded by the
            // file's size before anything is allocated from them.
            guard let elements = CheckedSize.product(t.dims),
                  let bytes = CheckedSize.product(elements / t.type.blockSize, t.type.blockBytes),
                  let fileOffset = CheckedSize.sum(start, t.offset) else {
                throw GGUFError.invalidField(path: path, offset: t.at, field: "tensor '\(t.name)' ne",
                                             reason: "dimensions \(t.dims) of type \(t.type) hold more bytes than an Int counts (expected a size within the file's \(data.count) bytes)")
            }
            guard CheckedSize.fits(offset: fileOffset, length: bytes, within: data.count) else {
                throw GGUFError.tensorOutOfRange(path: path, tensor: t.name, offset: fileOffset,
                                                 length: bytes, fileSize: data.count)
            }
            let info = GGUFTensorInfo(name: t.name, dimensions: t.dims, type: t.type, relativeOffset: t.offset,
                                      fileOffset: fileOffset, elementCount: elements, byteCount: bytes)
            if index[t.name] != nil {
                throw GGUFError.invalidField(path: path, offset: t.at, field: "tensor name", reason: "duplicate tensor '\(t.name)'")
            }
            index[t.name] = infos.count
            infos.append(info)
        }
        tensors = infos
        tensorIndex = index
    }

    /// What a file with the wrong magic seems to be, without echoing its bytes.
    static func describeForeignMagic(_ magic: [UInt8]) -> String {
        if magic == Array("TRIT".utf8) { return "a TritBench packed model's magic" }
        if magic.first == 0x93 { return "a NumPy .npy magic" }
        if magic.allSatisfy({ $0 == 0 }) { return "zero bytes" }
        return "other bytes (not shown)"
    }

    public func tensor(named name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensor(named: name) else { throw GGUFError.missingTensor(name: name) }
        return t
    }

    /// Dequantizes a tensor to Float32, in ggml order (ne0 fastest). Every tensor the model reads
    /// passes here, so this is where a NaN or Inf (a stored one, or an f16 scale that decodes to
    /// one) is refused with the tensor's name and the first bad index, instead of surfacing as
    /// `ppl nan` with exit 0.
    public func floats(of info: GGUFTensorInfo) throws -> [Float] {
        var out = [Float](repeating: 0, count: info.elementCount)
        try data.withUnsafeBytes { raw in
            guard CheckedSize.fits(offset: info.fileOffset, length: info.byteCount, within: raw.count) else {
                throw GGUFError.tensorOutOfRange(path: path, tensor: info.name, offset: info.fileOffset,
                                                 length: info.byteCount, fileSize: raw.count)
            }
            let src = UnsafeRawBufferPointer(rebasing: raw[info.fileOffset..<(info.fileOffset + info.byteCount)])
            out.withUnsafeMutableBufferPointer { dst in GGMLDequantizer.dequantize(info.type, src, into: dst) }
        }
        if let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw GGUFError.nonFinite(path: path, tensor: info.name, index: bad, value: out[bad])
        }
        return out
    }

    /// A 2-D tensor as a `Matrix` with rows = ne1 (outputs) and cols = ne0 (inputs): ggml's
    /// row-major layout is already TritBench's (rows = outputs) layout, so no transpose.
    public func matrix(named name: String, rows: Int? = nil, cols: Int? = nil) throws -> Matrix {
        let t = try requireTensor(name)
        guard t.dimensions.count == 2 else {
            throw GGUFError.shapeMismatch(tensor: name, expected: "2 dimensions", found: "ne = \(t.dimensions)")
        }
        let (c, r) = (t.dimensions[0], t.dimensions[1])
        if let rows, let cols, rows != r || cols != c {
            throw GGUFError.shapeMismatch(tensor: name, expected: "ne = [\(cols), \(rows)]", found: "ne = \(t.dimensions)")
        }
        return Matrix(rows: r, cols: c, values: try floats(of: t))
    }

    /// A 1-D tensor (norm weights), checked against the expected length.
    public func vector(named name: String, count: Int) throws -> [Float] {
        let t = try requireTensor(name)
        guard t.dimensions == [count] else {
            throw GGUFError.shapeMismatch(tensor: name, expected: "ne = [\(count)]", found: "ne = \(t.dimensions)")
        }
        return try floats(of: t)
    }

    // MARK: typed metadata access

    public func value(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key: key) }
        return v
    }

    public func integer(_ key: String) throws -> Int {
        let v = try value(key)
        guard let i = v.integer else { throw GGUFError.wrongKeyType(key: key, expected: "an integer", found: v.typeName) }
        return i
    }

    public func float(_ key: String) throws -> Double {
        let v = try value(key)
        guard let f = v.floatingPoint else { throw GGUFError.wrongKeyType(key: key, expected: "a number", found: v.typeName) }
        return f
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.string else { throw GGUFError.wrongKeyType(key: key, expected: "string", found: v.typeName) }
        return s
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard let b = v.bool else { throw GGUFError.wrongKeyType(key: key, expected: "bool", found: v.typeName) }
        return b
    }

    /// `read(key)` when the key is present, nil when it is absent: an optional field is still
    /// refused when it holds the wrong type, instead of silently taking its default.
    public func ifPresent<T>(_ key: String, _ read: (String) throws -> T) rethrows -> T? {
        metadata[key] == nil ? nil : try read(key)
    }

    public func strings(_ key: String) throws -> [String] { try array(key, of: "array<string>", \.string) }

    public func floats(_ key: String) throws -> [Float] { try array(key, of: "array of numbers", { $0.floatingPoint.map(Float.init) }) }

    public func integers(_ key: String) throws -> [Int] { try array(key, of: "array of integers", \.integer) }

    /// An array value whose every element `element` converts; otherwise the error names the
    /// key, the `expected` type and the type found.
    private func array<T>(_ key: String, of expected: String, _ element: (GGUFValue) -> T?) throws -> [T] {
        let v = try value(key)
        guard let a = v.array else { throw GGUFError.wrongKeyType(key: key, expected: expected, found: v.typeName) }
        return try a.map {
            guard let e = element($0) else { throw GGUFError.wrongKeyType(key: key, expected: expected, found: v.typeName) }
            return e
        }
    }
}

/// Little-endian cursor over GGUF bytes that reports truncation with the offset and field.
struct GGUFByteReader {
    let data: Data
    let path: String
    private(set) var offset = 0

    init(data: Data, path: String) { self.data = data; self.path = path }

    private func need(_ n: Int, _ field: String) throws {
        if n < 0 || offset + n > data.count {
            throw GGUFError.truncated(path: path, offset: offset, field: field, needed: n, available: max(0, data.count - offset))
        }
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        let n = MemoryLayout<T>.size
        try need(n, field)
        let at = offset
        let v = data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
        offset += n
        return v
    }

    mutating func bytes(_ n: Int, field: String) throws -> [UInt8] {
        try need(n, field)
        let s = offset
        offset += n
        return [UInt8](data[s..<(s + n)])
    }

    mutating func u32(field: String) throws -> UInt32 { try load(UInt32.self, field) }
    mutating func u64(field: String) throws -> UInt64 { try load(UInt64.self, field) }

    /// A uint64 count checked against a sanity limit, so a corrupted count fails cleanly
    /// instead of attempting a huge allocation.
    mutating func count(field: String, limit: Int) throws -> Int {
        let at = offset
        let v = try u64(field: field)
        guard v <= UInt64(max(limit, 0)) else {
            throw GGUFError.invalidField(path: path, offset: at, field: field, reason: "count \(v) exceeds the limit \(limit)")
        }
        return Int(v)
    }

    mutating func string(field: String) throws -> String {
        let n = try u64(field: field + " length")
        guard n <= UInt64(data.count - offset) else {
            throw GGUFError.truncated(path: path, offset: offset, field: field, needed: Int(clamping: n), available: data.count - offset)
        }
        let b = try bytes(Int(n), field: field)
        return String(decoding: b, as: UTF8.self)
    }

    mutating func value(type: UInt32, key: String, typeOffset: Int, depth: Int = 0) throws -> GGUFValue {
        let f = "metadata '\(key)'"
        switch type {
        case 0: return .uint8(try load(UInt8.self, f))
        case 1: return .int8(try load(Int8.self, f))
        case 2: return .uint16(try load(UInt16.self, f))
        case 3: return .int16(try load(Int16.self, f))
        case 4: return .uint32(try load(UInt32.self, f))
        case 5: return .int32(try load(Int32.self, f))
        case 6: return .float32(Float(bitPattern: try load(UInt32.self, f)))
        case 7:
            let at = offset
            let b = try load(UInt8.self, f)
            guard b <= 1 else { throw GGUFError.invalidField(path: path, offset: at, field: f, reason: "bool byte must be 0 or 1, found \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string(field: f))
        case 9:
            guard depth < 4 else { throw GGUFError.invalidField(path: path, offset: typeOffset, field: f, reason: "arrays nested deeper than 4") }
            let elemAt = offset
            let elem = try u32(field: f + " element type")
            // Every element takes at least one byte, so a count beyond the remaining bytes is corrupt.
            let n = try count(field: f + " element count", limit: data.count - offset - 8)
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(type: elem, key: key, typeOffset: elemAt, depth: depth + 1)) }
            return .array(elementType: elem, values: values)
        case 10: return .uint64(try load(UInt64.self, f))
        case 11: return .int64(try load(Int64.self, f))
        case 12: return .float64(Double(bitPattern: try load(UInt64.self, f)))
        default: throw GGUFError.unknownValueType(path: path, offset: typeOffset, key: key, type: type)
        }
    }
}
