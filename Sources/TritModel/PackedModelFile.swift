import Foundation
import TritCore
import TritKernels

/// Errors from reading a packed model file; each names the offset and field.
public enum PackedModelFileError: Error, CustomStringConvertible, Equatable {
    case badMagic(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, field: String, offset: Int, needed: Int, fileSize: Int)
    case checksumMismatch(path: String, offset: Int, stored: String, computed: String)
    case invalidHeader(path: String, offset: Int, reason: String)
    case invalidTensor(path: String, tensor: String, offset: Int, field: String, reason: String)
    case sourceMismatch(expected: String, found: String, path: String)
    /// The source GGUF named by the header cannot be used (missing, unreadable, not a GGUF, changed).
    case sourceUnusable(packed: String, stored: String, resolved: String, reason: String)

    public var description: String {
        switch self {
        case let .badMagic(path): return "packed model \(path): offset 0, field 'magic': expected \"TRITPKMF\" — not a packed model file"
        case let .unsupportedVersion(path, v): return "packed model \(path): offset 8, field 'version': version \(v) is not supported (expected \(PackedModelFile.formatVersion))"
        case let .truncated(path, field, offset, needed, size):
            return "packed model \(path): truncated: field '\(field)' at offset \(offset) needs \(needed) bytes but the file has \(size)"
        case let .checksumMismatch(path, offset, stored, computed):
            return "packed model \(path): offset \(offset), field 'sha256': checksum mismatch (stored \(stored), computed \(computed)) — the file is damaged"
        case let .invalidHeader(path, offset, reason): return "packed model \(path): offset \(offset), field 'header': \(reason)"
        case let .invalidTensor(path, tensor, offset, field, reason):
            return "packed model \(path): tensor '\(tensor)' at offset \(offset), field '\(field)': \(reason)"
        case let .sourceMismatch(expected, found, path):
            return "packed model: source GGUF \(path) has sha256 \(found), but the packed file was made from \(expected)"
        case let .sourceUnusable(packed, stored, resolved, reason):
            return "packed model \(packed): source GGUF '\(TextEscaping.terminal(stored))' from the header field 'sourceGGUFPath'"
                + (stored == resolved ? "" : " (resolved relative to the packed file: \(TextEscaping.terminal(resolved)))")
                + ": \(reason)"
        }
    }
}

/// One linear tensor of a packed model: ternary (logical form) or dense Float32 (baselines).
public enum PackedTensor: Equatable, Sendable {
    case ternary(TernaryWeights)
    case dense(Matrix)
}

/// A quantized model on disk: every linear tensor of the source GGUF, as produced by one method.
/// Non-linear tensors (embedding, norms) and the tokenizer come from the source GGUF, which the
/// header names by path and SHA-256.
///
/// Layout (version 1, all integers little-endian):
///
///     offset    size  field
///     0         8     magic "TRITPKMF"
///     8         4     version (UInt32) = 1
///     12        4     reserved, 0
///     16        8     header length H (UInt64)
///     24        8     payload length P (UInt64)
///     32        H     header: UTF-8 JSON (`PackedModelHeader`: method, parameters, source GGUF,
///                     and a directory of tensors with their payload offset and length)
///     32+H      P     payload: tensor records at the directory's offsets (relative to 32+H)
///     32+H+P    32    SHA-256 of bytes 0 ..< 32+H+P (magic, lengths, header and payload)
///
/// A ternary record stores, in order: each plane's trits packed 2 bits each (code = trit + 1,
/// four per byte, the first trit in the low bits, rows × cols row-major, the last byte padded
/// with zeros); each plane's scales as Float16 (rows × groups); the offsets as Float16; the
/// permutation as Int32 (cols); the bias as Float16 (rows) — the last three only when present.
/// Side data is Float16 because quantizers return `roundedToHalfPrecision()` weights, so the
/// round trip is exact. A dense record is rows × cols Float32.
public struct PackedModelFile: Equatable, Sendable {
    public static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("TRITPKMF".utf8)

    public var header: PackedModelHeader
    public var tensors: [String: PackedTensor]

    public init(method: String, parameters: [String: String], sourceGGUFPath: String, sourceGGUFSHA256: String,
                tensors: [String: PackedTensor]) {
        header = PackedModelHeader(method: method, parameters: parameters, sourceGGUFPath: sourceGGUFPath,
                                   sourceGGUFSHA256: sourceGGUFSHA256, tensors: [])
        self.tensors = tensors
    }

    /// SHA-256 of a file's bytes (memory-mapped), lower-case hex.
    public static func sha256(ofFile path: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw FileError.cannotRead(path: path, reason: error.localizedDescription)
        }
        return data.withUnsafeBytes { SHA256.hex($0) }
    }

    /// Whether the file starts with the packed model magic (used to tell it from a GGUF).
    public static func looksLikePackedModel(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 8)).map { [UInt8]($0) == magic } ?? false
    }

    // MARK: writing

    /// One tensor's record: the payload bytes and its directory entry (offset relative to `start`).
    func record(_ name: String, start: Int) -> (bytes: Data, entry: PackedModelHeader.Entry) {
        var payload = Data()
        switch tensors[name]! {
        case let .dense(m):
            // Float32 bytes as in memory: TritBench targets little-endian hosts (x86-64, arm64).
            m.values.withUnsafeBytes { payload.append(contentsOf: $0) }
            return (payload, .init(name: name, kind: "dense", rows: m.rows, cols: m.cols, groupSize: nil, planes: nil,
                                   hasOffsets: false, hasPermutation: false, hasBias: false, offset: start, length: payload.count))
        case let .ternary(t):
            for plane in t.planes { payload.append(contentsOf: Self.packTrits(plane)) }
            for s in t.scales { for v in s { appendLE(&payload, Float16(v).bitPattern) } }
            if let o = t.offsets { for v in o { appendLE(&payload, Float16(v).bitPattern) } }
            if let p = t.permutation { for v in p { appendLE(&payload, UInt32(bitPattern: v)) } }
            if let b = t.bias { for v in b { appendLE(&payload, Float16(v).bitPattern) } }
            return (payload, .init(name: name, kind: "ternary", rows: t.rows, cols: t.cols, groupSize: t.groupSize,
                                   planes: t.planes.count, hasOffsets: t.offsets != nil, hasPermutation: t.permutation != nil,
                                   hasBias: t.bias != nil, offset: start, length: payload.count))
        }
    }

    /// Streams the file through `sink` one tensor record at a time (so writing never holds a
    /// second copy of the weights), then the SHA-256 of everything before it.
    func encode(into sink: (Data) throws -> Void) rethrows {
        // Pass 1: the directory (offsets and lengths); records are encoded and dropped.
        var entries: [PackedModelHeader.Entry] = []
        var offset = 0
        for name in tensors.keys.sorted() {
            let e = record(name, start: offset).entry
            entries.append(e)
            offset += e.length
        }
        var h = header
        h.tensors = entries
        let headerBytes = (try? JSONCoding.encode(h)) ?? Data()
        var sha = SHA256()
        func emit(_ d: Data) throws { d.withUnsafeBytes { sha.update($0) }; try sink(d) }
        var head = Data(Self.magic)
        appendLE(&head, Self.formatVersion)
        appendLE(&head, UInt32(0))
        appendLE(&head, UInt64(headerBytes.count))
        appendLE(&head, UInt64(offset))
        try emit(head + headerBytes)
        // Pass 2: the payload, one record at a time.
        for e in entries { try emit(record(e.name, start: e.offset).bytes) }
        try sink(Data(sha.finalize()))
    }

    /// The file's bytes (tests and small files; `write(to:)` streams instead).
    public func encoded() -> Data {
        var out = Data()
        encode { out.append($0) }
        return out
    }

    /// Writes the file atomically (temporary file + rename), streaming record by record. A
    /// relative source path is stored absolute: read back, a relative path is taken relative to
    /// the packed file, not to whatever directory the reader runs in.
    public func write(to path: String) throws {
        var file = self
        if !file.header.sourceGGUFPath.hasPrefix("/") {
            file.header.sourceGGUFPath = URL(fileURLWithPath: file.header.sourceGGUFPath).standardizedFileURL.path
        }
        try AtomicFile.write(to: path) { try file.encode(into: $0) }
    }

    static func packTrits(_ trits: [Int8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (trits.count + 3) / 4)
        for (i, t) in trits.enumerated() { out[i >> 2] |= UInt8(t + 1) << UInt8(2 * (i & 3)) }
        return out
    }

    // MARK: reading

    public static func load(path: String) throws -> PackedModelFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw FileError.cannotRead(path: path, reason: error.localizedDescription)
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> PackedModelFile {
        let data = data.startIndex == 0 ? data : Data(data)
        let size = data.count
        guard size >= 8 else { throw PackedModelFileError.truncated(path: path, field: "magic", offset: 0, needed: 8, fileSize: size) }
        guard [UInt8](data[0..<8]) == magic else { throw PackedModelFileError.badMagic(path: path) }
        guard size >= 32 else { throw PackedModelFileError.truncated(path: path, field: "lengths", offset: 8, needed: 32, fileSize: size) }
        let version: UInt32 = readLE(data, 8)
        guard version == formatVersion else { throw PackedModelFileError.unsupportedVersion(path: path, version: version) }
        let hLen: UInt64 = readLE(data, 16), pLen: UInt64 = readLE(data, 24)
        guard hLen < UInt64(1 << 40), pLen < UInt64(1 << 40) else {
            throw PackedModelFileError.invalidHeader(path: path, offset: 16, reason: "implausible lengths \(hLen), \(pLen)")
        }
        let headerEnd = 32 + Int(hLen), payloadEnd = headerEnd + Int(pLen)
        guard size >= headerEnd else { throw PackedModelFileError.truncated(path: path, field: "header", offset: 32, needed: Int(hLen), fileSize: size) }
        guard size >= payloadEnd else { throw PackedModelFileError.truncated(path: path, field: "payload", offset: headerEnd, needed: Int(pLen), fileSize: size) }
        guard size >= payloadEnd + 32 else { throw PackedModelFileError.truncated(path: path, field: "sha256", offset: payloadEnd, needed: 32, fileSize: size) }
        guard size == payloadEnd + 32 else {
            throw PackedModelFileError.invalidHeader(path: path, offset: payloadEnd + 32, reason: "\(size - payloadEnd - 32) unexpected bytes after the checksum")
        }
        let stored = [UInt8](data[payloadEnd..<(payloadEnd + 32)])
        var sha = SHA256()
        data.withUnsafeBytes { sha.update(UnsafeRawBufferPointer(rebasing: $0[0..<payloadEnd])) }
        let computed = sha.finalize()
        guard stored == computed else {
            func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
            throw PackedModelFileError.checksumMismatch(path: path, offset: payloadEnd, stored: hex(stored), computed: hex(computed))
        }
        let header: PackedModelHeader
        do { header = try JSONCoding.decoder().decode(PackedModelHeader.self, from: data[32..<headerEnd]) } catch {
            throw PackedModelFileError.invalidHeader(path: path, offset: 32, reason: "JSON does not decode: \(error)")
        }
        var tensors: [String: PackedTensor] = [:]
        for e in header.tensors {
            // Every number of the directory entry is untrusted: offsets and sizes are computed
            // with overflow checks and bounded by the payload before anything is read or allocated.
            let at = CheckedSize.sum(headerEnd, max(e.offset, 0)) ?? headerEnd
            func bad(_ field: String, _ reason: String) -> PackedModelFileError {
                .invalidTensor(path: path, tensor: e.name, offset: at, field: field, reason: reason)
            }
            guard e.rows > 0, e.cols > 0 else {
                throw bad("rows/cols", "expected positive rows and columns, found \(e.rows)×\(e.cols)")
            }
            guard CheckedSize.fits(offset: e.offset, length: e.length, within: Int(pLen)) else {
                throw bad("offset", "record \(e.rows)×\(e.cols) at payload offset \(e.offset) length \(e.length) lies outside the payload (\(pLen) bytes)")
            }
            // Each weight takes at least 2 bits of the record, so a shape the record cannot hold is
            // refused before its product is used for anything.
            guard let n = CheckedSize.product(e.rows, e.cols), n / 4 <= e.length else {
                throw bad("rows/cols", "\(e.rows)×\(e.cols) weights do not fit the record's \(e.length) bytes")
            }
            var cursor = at
            switch e.kind {
            case "dense":
                guard e.length == n * 4 else { throw bad("length", "expected \(n) × 4 bytes for \(e.rows)×\(e.cols) Float32, found \(e.length)") }
                var v = [Float](repeating: 0, count: n)
                data.withUnsafeBytes { raw in
                    for i in 0..<n { v[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at + 4 * i, as: UInt32.self))) }
                }
                if let i = v.firstIndex(where: { !$0.isFinite }) {
                    throw bad("values", "element \(i) is \(v[i]); expected finite Float32 weights")
                }
                tensors[e.name] = .dense(Matrix(rows: e.rows, cols: e.cols, values: v))
            case "ternary":
                guard let gs = e.groupSize, gs > 0, let np = e.planes, np == 1 || np == 2 else {
                    throw bad("groupSize/planes", "ternary record needs a positive group size and 1 or 2 planes")
                }
                // n ≤ 4 × length (checked above) bounds every term here far below Int.max.
                let groups = e.rows * (e.cols / gs + (e.cols % gs == 0 ? 0 : 1))
                let planeBytes = n / 4 + (n % 4 == 0 ? 0 : 1)
                guard let expected = CheckedSize.sum(CheckedSize.product(np, planeBytes) ?? -1, CheckedSize.product(np, groups, 2) ?? -1,
                                                     e.hasOffsets ? groups * 2 : 0, e.hasPermutation ? e.cols * 4 : 0, e.hasBias ? e.rows * 2 : 0),
                      e.length == expected else {
                    throw bad("length", "expected \(np) plane(s) of \(planeBytes) bytes, \(np) × \(groups) Float16 scales and the side data the entry names, found \(e.length) bytes")
                }
                var planes: [[Int8]] = []
                for p in 0..<np {
                    var plane = [Int8](repeating: 0, count: n)
                    let base = cursor
                    try data.withUnsafeBytes { raw in
                        for i in 0..<n {
                            let byte: UInt8 = raw.load(fromByteOffset: base + (i >> 2), as: UInt8.self)
                            let code = (byte >> UInt8(2 * (i & 3))) & 3
                            guard code != 3 else { throw bad("planes[\(p)]", "invalid trit code 3 at weight \(i) (byte offset \(base + (i >> 2)))") }
                            plane[i] = Int8(code) - 1
                        }
                    }
                    planes.append(plane)
                    cursor += planeBytes
                }
                func halves(_ count: Int) -> [Float] {
                    defer { cursor += 2 * count }
                    return (0..<count).map { Float(Float16(bitPattern: readLE(data, cursor + 2 * $0))) }
                }
                let scales = (0..<np).map { _ in halves(groups) }
                let offsets = e.hasOffsets ? halves(groups) : nil
                var permutation: [Int32]?
                if e.hasPermutation {
                    permutation = (0..<e.cols).map { Int32(bitPattern: readLE(data, cursor + 4 * $0)) }
                    cursor += 4 * e.cols
                }
                let bias = e.hasBias ? halves(e.rows) : nil
                do {
                    tensors[e.name] = .ternary(try TernaryWeights(rows: e.rows, cols: e.cols, groupSize: gs, planes: planes, scales: scales,
                                                                  offsets: offsets, permutation: permutation, bias: bias))
                } catch { throw bad("values", "\(error)") }
            default:
                throw bad("kind", "expected \"ternary\" or \"dense\", found \"\(e.kind)\"")
            }
        }
        var file = PackedModelFile(method: header.method, parameters: header.parameters, sourceGGUFPath: header.sourceGGUFPath,
                                   sourceGGUFSHA256: header.sourceGGUFSHA256, tensors: tensors)
        file.header.tensors = header.tensors
        return file
    }

    /// The header's source path as a file path: absolute as stored, or relative to the directory
    /// of the packed file at `packedPath` (never to the reader's working directory).
    public func resolvedSourcePath(packedPath: String) -> String {
        let stored = header.sourceGGUFPath
        if stored.hasPrefix("/") { return stored }
        return URL(fileURLWithPath: packedPath).deletingLastPathComponent().appendingPathComponent(stored).standardizedFileURL.path
    }

    /// Resolves the source GGUF named in the header of the packed file at `packedPath` and checks,
    /// before anything is read from it, that it exists, is a regular file with GGUF magic, and
    /// has the SHA-256 the packed file recorded. Returns the resolved path. Each failure names the
    /// packed file, the stored and the resolved path, and what was found; no byte of a file that
    /// is not a GGUF is echoed.
    public func verifiedSource(packedPath: String) throws -> String {
        let stored = header.sourceGGUFPath
        let resolved = resolvedSourcePath(packedPath: packedPath)
        func unusable(_ reason: String) -> PackedModelFileError {
            .sourceUnusable(packed: packedPath, stored: stored, resolved: resolved, reason: reason)
        }
        guard header.sourceGGUFSHA256.count == 64, header.sourceGGUFSHA256.allSatisfy({ $0.isHexDigit }) else {
            throw unusable("the header's 'sourceGGUFSHA256' is not 64 hex digits, so the source cannot be verified")
        }
        var st = stat()
        guard stat(resolved, &st) == 0 else { throw unusable("it does not exist (\(String(cString: strerror(errno))))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw unusable("it is not a regular file") }
        guard let h = FileHandle(forReadingAtPath: resolved) else { throw unusable("it cannot be opened for reading") }
        let magic = (try? h.read(upToCount: 4)).map { [UInt8]($0) } ?? []
        try? h.close()
        guard magic == Array("GGUF".utf8) else { throw unusable("it is not a GGUF file (its first 4 bytes are not \"GGUF\")") }
        let found = try Self.sha256(ofFile: resolved)
        guard found == header.sourceGGUFSHA256.lowercased() else {
            throw unusable("its SHA-256 is \(found), but the packed file was made from \(header.sourceGGUFSHA256): the source was replaced or changed")
        }
        return resolved
    }

    /// Checks that the GGUF at the header's path is the one the file was made from.
    public func verifySource() throws {
        let found = try Self.sha256(ofFile: header.sourceGGUFPath)
        guard found == header.sourceGGUFSHA256 else {
            throw PackedModelFileError.sourceMismatch(expected: header.sourceGGUFSHA256, found: found, path: header.sourceGGUFPath)
        }
    }

    public static func == (a: PackedModelFile, b: PackedModelFile) -> Bool {
        a.header.method == b.header.method && a.header.parameters == b.header.parameters
            && a.header.sourceGGUFPath == b.header.sourceGGUFPath && a.header.sourceGGUFSHA256 == b.header.sourceGGUFSHA256
            && a.tensors == b.tensors
    }
}

/// The JSON header of a packed model file.
public struct PackedModelHeader: Codable, Equatable, Sendable {
    public var method: String
    public var parameters: [String: String]
    public var sourceGGUFPath: String
    public var sourceGGUFSHA256: String
    public var tensors: [Entry]

    public struct Entry: Codable, Equatable, Sendable {
        public var name: String
        public var kind: String
        public var rows: Int
        public var cols: Int
        public var groupSize: Int?
        public var planes: Int?
        public var hasOffsets: Bool
        public var hasPermutation: Bool
        public var hasBias: Bool
        /// Byte offset relative to the start of the payload.
        public var offset: Int
        public var length: Int
    }
}

private func appendLE<T: FixedWidthInteger>(_ data: inout Data, _ v: T) {
    withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
}

private func readLE<T: FixedWidthInteger>(_ data: Data, _ offset: Int) -> T {
    data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
}
