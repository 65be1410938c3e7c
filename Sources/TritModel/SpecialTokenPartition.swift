import Foundation

/// Cuts text at literal occurrences of special tokens before the tokenizer proper sees it, with
/// the result of llama.cpp's `tokenizer_st_partition`.
///
/// llama.cpp takes the special tokens one at a time, longest first, and splits every remaining
/// text fragment at each left-to-right, non-overlapping occurrence of that token. Done that way it
/// costs (special tokens × text) per call, and Gemma 3 has 6,414 special tokens. This does the
/// same in (text × longest token): a byte trie finds which special tokens occur in a fragment, the
/// first of them in llama.cpp's order splits it, and each piece is cut again the same way. The
/// pieces cannot hold that token (the scan took every non-overlapping occurrence) nor an earlier
/// one (the fragment held none), so they meet the later tokens exactly as in llama.cpp.
struct SpecialTokenPartition: Sendable {
    enum Fragment: Equatable {
        /// Bytes of the input still to be tokenized (never empty).
        case text(Range<Int>)
        case token(Int32)
    }

    struct Candidate: Sendable {
        let id: Int32
        let bytes: [UInt8]
        /// Partitioned even when special tokens are not parsed (llama.cpp: user-defined tokens
        /// without the control or unknown attribute).
        let alwaysPartitioned: Bool
    }

    /// In llama.cpp's order: longer texts first. Its `std::sort` leaves tokens of equal length in
    /// no set order; here the lower id goes first (it only matters where two such tokens overlap).
    let candidates: [Candidate]
    /// Trie over the candidates' bytes: node → byte → child; node 0 is the root.
    private var children: [[UInt8: Int32]] = [[:]]
    /// The candidate (index into `candidates`) whose text ends at a node, or -1.
    private var terminal: [Int32] = [-1]
    private var startsCandidate = [Bool](repeating: false, count: 256)

    init(_ tokens: [(id: Int32, text: String, alwaysPartitioned: Bool)]) {
        candidates = tokens.filter { !$0.text.isEmpty }
            .map { Candidate(id: $0.id, bytes: Array($0.text.utf8), alwaysPartitioned: $0.alwaysPartitioned) }
            .sorted { ($0.bytes.count, $1.id) > ($1.bytes.count, $0.id) }
        for (rank, c) in candidates.enumerated() {
            var node = 0
            for b in c.bytes {
                if let next = children[node][b] { node = Int(next); continue }
                children.append([:]); terminal.append(-1)
                children[node][b] = Int32(children.count - 1)
                node = children.count - 1
            }
            if terminal[node] < 0 { terminal[node] = Int32(rank) }
            startsCandidate[Int(c.bytes[0])] = true
        }
    }

    /// The fragments of `bytes` in order. `parseSpecial` false keeps only the user-defined tokens
    /// (llama.cpp's `parse_special`; control and unknown tokens then stay ordinary text).
    func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        var out: [Fragment] = []
        split(bytes, 0..<bytes.count, parseSpecial: parseSpecial, into: &out)
        return out
    }

    private func split(_ bytes: [UInt8], _ range: Range<Int>, parseSpecial: Bool, into out: inout [Fragment]) {
        guard !range.isEmpty else { return }
        guard let rank = firstCandidate(in: bytes, range, parseSpecial: parseSpecial) else {
            out.append(.text(range)); return
        }
        let pattern = candidates[rank].bytes
        var start = range.lowerBound, i = start
        while i + pattern.count <= range.upperBound {
            if bytes[i] == pattern[0] && bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                split(bytes, start..<i, parseSpecial: parseSpecial, into: &out)
                out.append(.token(candidates[rank].id))
                i += pattern.count; start = i
            } else {
                i += 1
            }
        }
        split(bytes, start..<range.upperBound, parseSpecial: parseSpecial, into: &out)
    }

    /// The earliest-ordered candidate that occurs anywhere in `bytes[range]`.
    private func firstCandidate(in bytes: [UInt8], _ range: Range<Int>, parseSpecial: Bool) -> Int? {
        var best = Int.max
        for i in range where startsCandidate[Int(bytes[i])] {
            var node = 0, j = i
            while j < range.upperBound, let next = children[node][bytes[j]] {
                node = Int(next); j += 1
                let rank = Int(terminal[node])
                if rank >= 0 && rank < best && (parseSpecial || candidates[rank].alwaysPartitioned) { best = rank }
            }
        }
        return best == Int.max ? nil : best
    }
}
