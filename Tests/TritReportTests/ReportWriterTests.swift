import Foundation
import Testing
import TritKernels
import TritCore
import TritMeasure
import TritReport

@Suite struct ReportWriterTests {
    @Test func paretoFrontKeepsOnlyUndominatedPoints() {
        // (bits, retention): (1.6, 60) and (3.2, 90) are on the front; (4, 85) is dominated by (3.2, 90).
        let front = ReportWriter.paretoFront([(1.6, 60), (3.2, 90), (4, 85), (2, 55), (16, 100)])
        #expect(front == [0, 1, 4])
    }

    @Test func reportHasTablesAndPlotsAndNoExternalReferences() throws {
        var r = RunResult(runID: "t", context: EnvironmentReport.collect(probeEvents: false))
        var ref = MethodResult(method: "reference", label: "Float32 reference", runtime: "Float32 BLAS")
        ref.bitsPerWeight = 32; ref.ppl = 19; ref.decodeTokensPerSecond = 50
        func outcomes(_ right: Int) -> String { String(repeating: "1", count: right) + String(repeating: "0", count: 300 - right) }
        ref.tasks = [TaskResult(task: "piqa", acc: 0.65, accNorm: 0.66, docs: 300, chance: 0.5, outcomes: outcomes(195)),
                     TaskResult(task: "winogrande", acc: 0.5, accNorm: 0.5, docs: 300, chance: 0.5, outcomes: outcomes(150))]
        var tq = MethodResult(method: "tequila-untrained", label: "absmean + deadzone bias (untrained)", runtime: "packed ternary kernels")
        tq.bitsPerWeight = 1.75; tq.ppl = 190; tq.decodeTokensPerSecond = 120
        tq.modelBytes = 52 << 20; tq.heldBytes = 81 << 20
        tq.notes = ["two packed copies (decode + prefill formats) in 60 of 210 ternary layers"]
        tq.tasks = [TaskResult(task: "piqa", acc: 0.52, accNorm: 0.53, docs: 300, chance: 0.5, outcomes: outcomes(156)),
                    TaskResult(task: "winogrande", acc: 0.49, accNorm: 0.5, docs: 300, chance: 0.5, outcomes: outcomes(147))]
        r.methods = AccuracyAnalysis(vocabularySize: 49152).analyze([ref, tq])
        r.tuning = [TuningLandscape(problem: KernelProblem(variant: "simd", format: .twoBit, rows: 576, cols: 576, tokens: 1, threads: 1),
                                    TuningSearch(strategy: "exhaustive",
                                    points: [.init(configuration: ["rb": 1, "kb": 128], medianSeconds: 2e-6, failed: false),
                                             .init(configuration: ["rb": 4, "kb": 128], medianSeconds: 1e-6, failed: false),
                                             .init(configuration: ["rb": 4, "kb": 256], medianSeconds: nil, failed: true)],
                                    best: ["rb": 4, "kb": 128], bestMedianSeconds: 1e-6, defaultMedianSeconds: 2e-6, evaluations: 3, seconds: 1))]
        let md = ReportWriter(result: r).markdown()
        #expect(md.contains("| absmean + deadzone bias (untrained) | 1.75 | 52.0 MiB | 190"))
        #expect(md.contains("| absmean + deadzone bias (untrained) | 81.0 MiB |"))   // held bytes, in the speed table
        #expect(md.contains("52.0% [46.4, 57.6]"))   // Wilson interval
        // Every row of the methods table has as many cells as its header.
        let table = md.components(separatedBy: "\n").drop { !$0.hasPrefix("| method |") }.prefix { $0.hasPrefix("|") }
        #expect(table.count == 4)
        #expect(md.contains("- absmean + deadzone bias (untrained): two packed copies (decode + prefill formats) in 60 of 210 ternary layers\n"))
        #expect(Set(table.map { $0.filter { $0 == "|" }.count }).count == 1)
        #expect(md.contains("| 0.13 ["))  // chance-adjusted: (0.52 − 0.5) / (0.65 − 0.5), WinoGrande left out
        #expect(md.contains("10.00×"))  // ppl ratio
        #expect(md.contains("2.00×"))   // tuning speedup
        let html = ReportWriter(result: r).html()
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)  // retention, decode, heatmap (no roofline without kernels)
        #expect(!html.contains("http://") || html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://") == false)
        #expect(!html.contains("<script"))
        #expect(html.contains("Pareto front"))
        #expect(html.contains("<li>absmean + deadzone bias (untrained): two packed copies (decode + prefill formats) in 60 of 210 ternary layers</li>"))
    }
}
