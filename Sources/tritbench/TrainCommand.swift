import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritTrain

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Quantization-aware training of every linear layer, end to end (Tequila, absmean-STE, minima reactivation), into a packed model; resumable.")

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case tequila, absmeanSTE = "absmean-ste", reactivation = "minima-reactivation"
    }

    @Option(help: "tequila (deadzone bias + λ·∂L/∂c), absmean-ste (λ = 0), or minima-reactivation (deadzone weights as λ·w).")
    var method: Method
    @Option(help: "Training tokens (the budget).") var tokens: Int
    @Option(help: "GGUF to start from (default: the cached SmolLM2-135M).") var model: String?
    @Option(help: "Packed model file to write (default: none).") var out: String?
    @Option(help: "λ of Tequila and minima reactivation.") var lambda = 1e-3
    @Option(help: "Peak learning rate (warmup-stable-decay).") var lr = 1e-3
    @Option(help: "Tokens per training sequence.") var sequenceLength = 256
    @Option(help: "Sequences per step.") var batch = 4
    @Option(help: "Seed of the data order.") var seed: UInt64 = 1
    @Option(help: "OpenBLAS threads (1-\(maximumThreads)).") var threads = ThreadCount(2)
    @Option(help: "Seconds between checkpoints.") var checkpointSeconds = 180.0
    @Flag(help: "Recompute each block's forward in the backward instead of keeping its activations (less memory, more work).")
    var recompute = false
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        try OptionCheck.range("tokens", tokens, 1...(1 << 40))
        try OptionCheck.finite("checkpoint-seconds", checkpointSeconds, 1e-3...1e9)
        try OptionCheck.finite("lambda", lambda, 0...0.999_999)
        try OptionCheck.finite("lr", lr, 1e-12...0.999_999)
        try OptionCheck.range("sequence-length", sequenceLength, 2...(1 << 16))
        try OptionCheck.range("batch", batch, 1...4096)
        try OptionCheck.distinct(outputs: [("out", out)], inputs: [("model", model ?? CachePaths().defaultModel)])
    }

    func run() throws {
        do {
            let form: TernaryTraining
            switch method {
            case .tequila: form = .tequila(lambda: lambda)
            case .absmeanSTE: form = .absmean
            case .reactivation: form = .reactivation(lambda: lambda)
            }
            var o = TrainingOptions(form: form, tokens: tokens)
            o.learningRate = lr; o.sequenceLength = sequenceLength; o.batchSequences = batch; o.seed = seed; o.threads = threads.value
            o.keepActivations = !recompute
            try o.validate()
            let cache = CachePaths()
            let path = model ?? cache.defaultModel
            var trainer = Trainer(options: o, modelPath: path, checkpointDirectory: cache.trainingCheckpointDirectory)
            trainer.checkpointSeconds = checkpointSeconds
            let (report, params) = try trainer.run()
            if let out {
                let file = try Trainer.packedModel(params, form: form, groupSize: o.groupSize, sourcePath: path,
                                                   sourceSHA256: try PackedModelFile.sha256(ofFile: path),
                                                   parameters: ["tokens": "\(o.tokens)", "lambda": "\(form.lambda)", "lr": "\(o.learningRate)", "seed": "\(o.seed)"])
                try file.write(to: out)
            }
            if json { try printJSON(report); return }
            print("method \(form.name), \(report.tokensTrained) tokens in \(report.steps) steps, \(String(format: "%.0f", report.tokensPerSecond)) tokens/s\(report.resumedAtStep.map { ", resumed at step \($0)" } ?? "")")
            print(String(format: "speed: %.2f GFLOP per token → %.1f GFLOP/s, %.0f%% of SGEMM %d×%d×%d at %.1f GFLOP/s on %d thread(s), measured in this run",
                         report.work.perToken / 1e9, report.achievedGFLOPS, 100 * report.fractionOfPeak, report.sgemmPeak.m,
                         report.sgemmPeak.n, report.sgemmPeak.k, report.sgemmPeak.gflops, report.sgemmPeak.threads))
            let ph = report.phases
            if ph.total > 0 {
                print(String(format: "time: forward %.0f%%, head %.0f%%, backward %.0f%%, optimizer %.0f%% of %.1f s",
                             100 * ph.forward / ph.total, 100 * ph.head / ph.total, 100 * ph.backward / ph.total,
                             100 * ph.optimizer / ph.total, ph.total))
            }
            if let rss = report.peakRSSBytes {
                let plan = o.keepActivations ? "every block's activations kept" : "each block recomputed in the backward"
                print("memory: peak RSS \(rss >> 20) MiB, \(plan) (batch \(o.batchSequences) × \(o.sequenceLength) tokens)")
            }
            print("loss \(String(format: "%.3f", report.losses.first ?? .nan)) → \(String(format: "%.3f", report.losses.last ?? .nan))")
            for p in report.curve {
                print(String(format: "  after %7d tokens: held-out ppl %.2f, deadzone %.1f%%", p.tokens, p.heldOutPerplexity, p.deadzoneFraction * 100))
            }
            if let out { print("packed model: \(out)") }
        } catch { throw fail(error) }
    }
}
