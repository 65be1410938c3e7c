import Foundation

/// Errors reading a `.npy` file; each names the file and the field or offset at fault.
public enum NPYError: Error, CustomStringConvertible, Equatable {
    case badMagic(path: String)
    case truncated(path: String, offset: Int, needed: Int)
    case badHeader(path: String, field: String, found: String, expected: String)
    case nonFinite(path: String, index: Int, row: Int, col: Int)

    public var description: String {
        switch self {
        case let .badMagic(path):
            return "\(path): not a .npy file (offset 0: expected magic \\x93NUMPY)"
        case let .truncated(path, offset, needed):
            return "\(path): truncated at offset \(offset): expected \(needed) more bytes"
        case let .badHeader(path, field, found, expected):
            return "\(path): header field '\(field)' is \(found); expected \(expected)"
        case let .nonFinite(path, index, row, col):
            return "\(path): value \(index) (row \(row), column \(col)) is not finite (NaN or Inf weights are rejected)"
        }
    }
}

/// Reads and writes NumPy `.npy` files holding 2-D little-endian float32 arrays (`<f4`),
/// C order. That is the interchange format of `tritbench quantize --matrix`.
public enum NPY {
    public static func read(path: String, allowNonFinite: Bool = false) throws -> Matrix {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError.missing(path: path, hint: "Expected a 2-D little-endian float32 .npy file.")
        }
        return try decode(data, path: path, allowNonFinite: allowNonFinite)
    }

    public static func decode(_ data: Data, path: String = "<memory>", allowNonFinite: Bool = false) throws -> Matrix {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 6 else { throw NPYError.truncated(path: path, offset: bytes.count, needed: 6 - bytes.count) }
        guard Array(bytes[0..<6]) == magic else { throw NPYError.badMagic(path: path) }
        guard bytes.count >= 10 else { throw NPYError.truncated(path: path, offset: bytes.count, needed: 10 - bytes.count) }
        let major = bytes[6]
        var headerLen: Int, headerStart: Int
        switch major {
        case 1:
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError.truncated(path: path, offset: bytes.count, needed: 12 - bytes.count) }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; headerStart = 12
        default:
            throw NPYError.badHeader(path: path, field: "version", found: "\(major)", expected: "1, 2 or 3")
        }
        guard bytes.count >= headerStart + headerLen else {
            throw NPYError.truncated(path: path, offset: bytes.count, needed: headerStart + headerLen - bytes.count)
        }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLen)], as: UTF8.self)
        let descr = try field("descr", in: header, path: path)
        guard descr == "'<f4'" || descr == "'float32'" else {
            throw NPYError.badHeader(path: path, field: "descr", found: descr, expected: "'<f4' (little-endian float32)")
        }
        let order = try field("fortran_order", in: header, path: path)
        guard order == "False" else {
            throw NPYError.badHeader(path: path, field: "fortran_order", found: order, expected: "False (C order)")
        }
        let shapeText = try field("shape", in: header, path: path)
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard dims.count == 2, let rows = Int(dims[0]), let cols = Int(dims[1]) else {
            throw NPYError.badHeader(path: path, field: "shape", found: shapeText, expected: "a 2-D shape (rows, cols)")
        }
        guard rows > 0, cols > 0 else {
            throw NPYError.badHeader(path: path, field: "shape", found: shapeText, expected: "positive rows and columns")
        }
        let dataStart = headerStart + headerLen
        let available = bytes.count - dataStart
        // rows × cols × 4 is checked for overflow and against the bytes present before any allocation.
        guard let needed = CheckedSize.product(rows, cols, 4) else {
            throw NPYError.badHeader(path: path, field: "shape", found: shapeText,
                                     expected: "rows × cols × 4 bytes within the file's \(available) data bytes (the product overflows)")
        }
        guard available >= needed else {
            throw NPYError.truncated(path: path, offset: bytes.count, needed: needed - available)
        }
        var values = [Float](repeating: 0, count: rows * cols)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[dataStart..<(dataStart + needed)]))
            }
        }
        #if _endian(big)
        for i in 0..<values.count { values[i] = Float(bitPattern: values[i].bitPattern.byteSwapped) }
        #endif
        let m = Matrix(rows: rows, cols: cols, values: values)
        if !allowNonFinite, let bad = m.firstNonFiniteIndex {
            throw NPYError.nonFinite(path: path, index: bad, row: bad / max(cols, 1), col: bad % max(cols, 1))
        }
        return m
    }

    private static func field(_ name: String, in header: String, path: String) throws -> String {
        guard let r = header.range(of: "'\(name)':") else {
            throw NPYError.badHeader(path: path, field: name, found: "missing", expected: "present in the header dictionary")
        }
        var rest = header[r.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else {
                throw NPYError.badHeader(path: path, field: name, found: "unterminated tuple", expected: "(...)")
            }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    /// Encodes a matrix as a version-1 `.npy` (`<f4`, C order), header padded to 64 bytes.
    public static func encode(_ m: Matrix) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(m.rows), \(m.cols)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let n = UInt16(header.utf8.count)
        d.append(UInt8(n & 0xFF)); d.append(UInt8(n >> 8))
        d.append(contentsOf: Array(header.utf8))
        m.values.withUnsafeBytes { d.append(contentsOf: $0) }
        return d
    }

    public static func write(_ m: Matrix, to path: String) throws {
        try AtomicFile.write(encode(m), to: path)
    }
}
