import Foundation
import Testing
import TritCore
@testable import TritModel

@Suite("evaluation data and zero-shot scoring")
struct EvaluationTests {
    let data = EvaluationData()

    /// The real PIQA request file inflates to the bytes `gzip -dc` gives; the same file cut
    /// short, or a file that is not gzip, is refused with its path and what went wrong.
    @Test func requestFilesInflateAsGzipDoesAndBrokenOnesAreNamed() throws {
        let path = CachePaths().requestFile(task: "piqa")
        try #require(FileManager.default.fileExists(atPath: path), "run Scripts/setup.sh first")
        let ours = try EvaluationData.gunzip(path)
        let gzip = try #require(Shell.run("/usr/bin/env", ["gzip", "-dc", path]))
        #expect(gzip.status == 0 && ours == gzip.stdout && ours.count > 1000)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-gz-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        for (name, bytes) in [("cut.jsonl.gz", whole.prefix(whole.count / 2)), ("plain.jsonl.gz", Data("{\"doc_id\": 0}\n".utf8))] {
            let p = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: p))
            #expect(throws: EvaluationDataError.self) { _ = try EvaluationData.gunzip(p) }
            do { _ = try EvaluationData.gunzip(p) } catch {
                #expect("\(error)".contains(p) && "\(error)".contains("gzip"), "\(error)")
            }
        }
    }

    @Test func boolqPassagesAreDedupedWikipediaText() throws {
        let p = try data.boolqPassages()
        #expect(p.count == 2939)   // 3,270 docs share 2,939 distinct passages
        #expect(Set(p).count == p.count)
        #expect(p[0].hasPrefix("Ethanol fuel -- All biomass goes through"))
        #expect(!p.contains { $0.contains("\nQuestion:") || $0.contains("\nAnswer:") })
    }

    @Test func lambadaPassagesIncludeTheTargetWord() throws {
        let p = try data.lambadaPassages()
        #expect(p.count == 5153)
        #expect(p[0].hasSuffix("I don't care about signs"))
    }

    @Test func calibrationComesFromTheUnscoredSource() throws {
        #expect(PerplexitySource.boolqPassages.calibrationSource == .lambada)
        #expect(PerplexitySource.lambada.calibrationSource == .boolqPassages)
        let seqs = try calibrationSequences(scored: .boolqPassages, tokenizer: RealModel.tokenizer, count: 3, length: 64, data: data)
        #expect(seqs.count == 3 && seqs.allSatisfy { $0.count == 64 })
        let lambadaStart = RealModel.tokenizer.encode(try data.lambadaPassages()[0])
        #expect(Array(seqs[0].prefix(20)) == Array(lambadaStart.prefix(20)))
    }

    @Test func multipleChoiceDocumentsSkipPMIRows() throws {
        let piqa = try MultipleChoiceTask.documents(task: "piqa", data: data)
        #expect(piqa.count == 1838 && piqa.allSatisfy { $0.choices.count == 2 && $0.docID < 1_000_000 })
        let arc = try MultipleChoiceTask.documents(task: "arc_easy", data: data)
        #expect(arc.count == 570)
        #expect(arc[0].gold == 0 && arc[0].choices[0].continuation == " cellular telephone")
        #expect(throws: EvaluationDataError.self) { try MultipleChoiceTask.documents(task: "nope", data: data) }
    }

    @Test func encodePairMovesTrailingSpaceToContinuation() {
        let s = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        let (c, k) = s.encodePair(context: "Question: Which is larger?\nAnswer: ", continuation: "the sun")
        #expect(c == RealModel.tokenizer.encode("Question: Which is larger?\nAnswer:"))
        #expect(k == RealModel.tokenizer.encode(" the sun"))
    }

    /// Reusing the cached shared context gives the same log-likelihood as scoring from scratch,
    /// and the model prefers the sensible continuation.
    @Test func scorerCacheReuseIsExact() {
        var s = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        let (c, good) = s.encodePair(context: "The sky on a clear day is", continuation: " blue")
        let (_, bad) = s.encodePair(context: "The sky on a clear day is", continuation: " a refrigerator")
        let llGood = s.loglikelihood(context: c, continuation: good)
        let llBad = s.loglikelihood(context: c, continuation: bad)          // reuses the cached context
        var fresh = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        let llBadFresh = fresh.loglikelihood(context: c, continuation: bad)
        #expect(abs(llBad - llBadFresh) < 1e-4, "\(llBad) vs \(llBadFresh)")
        #expect(llGood > llBad)
        #expect(llGood < 0)
    }

    /// One forward per document (choices as branches of the shared context), and several
    /// documents per forward (independent groups), give the log-likelihoods of scoring each
    /// choice on its own; WinoGrande's documents share the continuation, not the context.
    @Test func branchedAndGroupedScoringEqualsOneChoiceAtATime() throws {
        var docs = Array(try MultipleChoiceTask.documents(task: "arc_easy", data: data).prefix(3))
        docs += Array(try MultipleChoiceTask.documents(task: "winogrande", data: data).prefix(2))
        var single = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        var batched = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        var grouped = LoglikelihoodScorer(model: RealModel.model, tokenizer: RealModel.tokenizer)
        var pending = PendingLogProbabilities()
        var all: [(pairs: [(context: [Int32], continuation: [Int32])], firstOwner: Int)] = []
        var expected: [Double] = [], perDocument: [Double] = []
        for doc in docs {
            let pairs = doc.choices.map { single.encodePair(context: $0.context, continuation: $0.continuation) }
            all.append((pairs, expected.count))
            for p in pairs { expected.append(single.loglikelihood(context: p.context, continuation: p.continuation)) }
            perDocument += batched.loglikelihoods(pairs)
        }
        grouped.enqueue(all, into: &pending)
        var together = [Double](repeating: 0, count: expected.count)
        for (owner, v) in pending.flush(RealModel.model) { together[owner] += v }
        for i in expected.indices {
            #expect(abs(perDocument[i] - expected[i]) < 1e-3 * max(1, abs(expected[i])), "choice \(i): \(perDocument[i]) vs \(expected[i])")
            #expect(abs(together[i] - expected[i]) < 1e-3 * max(1, abs(expected[i])), "choice \(i): \(together[i]) vs \(expected[i])")
        }
    }

    /// Two workers (each with a replica of the model) give the outcomes of one, document by document.
    @Test func parallelScoringKeepsDocumentOrderAndResults() throws {
        let docs = try MultipleChoiceTask.documents(task: "piqa", data: data)
        let one = evaluateMultipleChoice(task: "piqa", documents: docs, model: RealModel.model, tokenizer: RealModel.tokenizer,
                                         limit: 12, progress: false, workers: 1)
        let two = evaluateMultipleChoice(task: "piqa", documents: docs, model: RealModel.model, tokenizer: RealModel.tokenizer,
                                         limit: 12, progress: false, workers: 2)
        #expect(one.outcomes?.count == 12 && one.outcomes == two.outcomes && one.outcomesNorm == two.outcomesNorm)
        #expect(abs(one.chance! - 0.5) < 1e-12)
    }

    @Test func taskAccuracyOnAFewDocuments() throws {
        let docs = try MultipleChoiceTask.documents(task: "arc_easy", data: data)
        let r = evaluateMultipleChoice(task: "arc_easy", documents: docs, model: RealModel.model,
                                       tokenizer: RealModel.tokenizer, limit: 4, progress: false)
        #expect(r.docs == 4 && r.correct <= 4 && r.correctNorm <= 4)
        #expect(r.acc == Double(r.correct) / 4)
    }
}
