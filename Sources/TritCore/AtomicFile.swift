import Foundation

/// Errors from reading and writing files, naming the path and what went wrong.
public enum FileError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case missing(path: String, hint: String)
    case refusingToOverwrite(path: String, hint: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): return "cannot write \(path): \(reason)"
        case let .cannotRead(path, reason): return "cannot read \(path): \(reason)"
        case let .missing(path, hint): return "\(path) does not exist. \(hint)"
        case let .refusingToOverwrite(path, hint): return "refusing to overwrite \(path). \(hint)"
        }
    }
}

/// Writes files so that a reader never sees a half-written one: the bytes go to a temporary
/// file in the same directory, are flushed, and the temporary file is renamed over the target.
public enum AtomicFile {
    /// Writes `data` to `path` atomically, creating parent directories.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0(data) }
    }

    /// Writes a file atomically from a stream of chunks: `produce` calls its sink with each
    /// chunk in order; the temporary file is renamed over `path` only when it returns. Large
    /// files are written without holding them in memory.
    public static func write(to path: String, _ produce: ((Data) throws -> Void) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw FileError.cannotWrite(path: path, reason: "cannot create directory \(dir): \(error.localizedDescription)")
        }
        let prefix = "." + url.lastPathComponent + ".tmp-"
        removeLeftovers(in: dir, prefix: prefix)
        let tmp = dir + "/" + prefix + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let handle = FileHandle(forWritingAtPath: tmp) else {
            throw FileError.cannotWrite(path: path, reason: "cannot create temporary file \(tmp)")
        }
        do {
            try produce { try handle.write(contentsOf: $0) }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            unlink(tmp)
            throw FileError.cannotWrite(path: path, reason: "\(error)")
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw FileError.cannotWrite(path: path, reason: "rename from temporary file failed: \(reason)")
        }
    }

    /// How old a temporary file must be before it counts as left over even when its PID is alive
    /// (PIDs are reused; no write of ours takes a day).
    public static let leftoverAge: TimeInterval = 24 * 3600

    /// Removes `.NAME.tmp-PID-*` files that a killed write left beside the target: those whose
    /// process no longer exists, or that are older than `leftoverAge`. A write in flight (its
    /// process alive, its file young) is left alone. Returns the names removed.
    @discardableResult
    public static func removeLeftovers(in dir: String, prefix: String, now: Date = Date()) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            let full = dir + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let alive = kill(pid, 0) == 0 || errno == EPERM
            #if os(Linux)
            let modified = st.st_mtim.tv_sec
            #else
            let modified = st.st_mtimespec.tv_sec
            #endif
            let age = now.timeIntervalSince1970 - TimeInterval(modified)
            if !alive || age > leftoverAge, unlink(full) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Writes a UTF-8 string atomically.
    public static func write(_ string: String, to path: String) throws {
        try write(Data(string.utf8), to: path)
    }

    /// Encodes a value as pretty, key-sorted JSON and writes it atomically.
    public static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        try write(try JSONCoding.encode(value), to: path)
    }
}

/// One JSON configuration for every file TritBench writes: sorted keys, pretty, ISO-8601 dates.
public enum JSONCoding {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        var data = try encoder().encode(value)
        data.append(0x0A)
        return data
    }

    public static func encodeString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
