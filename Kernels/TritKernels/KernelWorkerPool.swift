import CTritSupport
import Foundation
import Synchronization

/// Work a `KernelWorkerPool` splits over threads: chunk i of n, run by worker w (which picks
/// its scratch). A class protocol so the pool holds it without boxing or allocating per call.
protocol KernelPoolTask: AnyObject {
    func runChunk(_ chunk: Int, of chunks: Int, worker: Int)
}

/// Persistent worker threads for the multi-threaded kernels.
///
/// Why not `DispatchQueue.concurrentPerform`: a 2048×2048 GEMV takes ~40 µs per thread, and
/// handing the second half to libdispatch (enqueue, wake a pool thread, join) cost about as
/// much as it saved — 2 threads measured no faster than 1. Here the workers stay alive and,
/// after a call, spin for a short while watching a generation counter, so the next call of
/// a forward pass (one layer after another) wakes them with one atomic store and no system
/// call. A worker that has waited longer than `pollNanoseconds` parks on a condition
/// variable, so an idle pool costs no CPU (this machine's cores are shared).
///
/// Work is handed out in chunks claimed from an atomic word, not in one fixed part per
/// thread: when a worker is not scheduled (the cores are busy with other processes) the caller
/// takes its chunks, so a 2-thread call is never much slower than a 1-thread one. The caller
/// claims from the front and the workers from the back, so on two threads each side runs the
/// same rows call after call: a layer's weights stay in the cache of the core that read them
/// last. (One shared counter handed the first chunk to whichever thread came first, and a
/// 576×576 GEMV, hot in cache, measured no faster on 2 threads than on 1.)
///
/// One pool serves every kernel of the process (`shared`): each kernel owning threads would
/// mean hundreds of threads in a cold benchmark's copies. Calls are serialised by `dispatch`;
/// a caller that finds the pool busy (another forward running in parallel, or a forward
/// called from inside a pool task) runs its parts with `concurrentPerform` instead, so the
/// pool never deadlocks.
final class KernelWorkerPool: @unchecked Sendable {
    /// Process-wide pool; workers start on first use and grow to the largest count asked.
    static let shared = KernelWorkerPool()

    /// How long a worker polls for the next call before it parks, in nanoseconds: first with
    /// the `pause` hint only, then yielding the core on every poll. Decode's calls come 1–30 µs
    /// apart (attention, norms and the LM head run between layers), and a worker that has
    /// started yielding notices a call a system call later (1–3 µs in these VMs, half of a
    /// small layer's whole call). Counted in time, not iterations: `pause` takes 10 to 150
    /// cycles depending on the CPU, and a count tuned on one measured a spin of ~1 µs on another.
    static let pollNanoseconds: UInt64 = 200_000
    static let yieldAfterNanoseconds: UInt64 = 100_000

    /// (call sequence << 8) | parts: one word, so a worker that wakes late can never pair one
    /// call's sequence with another call's part count.
    private let generation = Atomic<Int>(0)
    /// (call sequence << 32) | (end of the unclaimed chunks << 16) | start of them, for the
    /// running call: the caller claims the start, workers the end, each with a compare-exchange
    /// that also checks the sequence, so a late worker cannot claim a chunk of a call it has
    /// not seen start.
    private let nextChunk = Atomic<Int>(0)
    /// Chunks finished in the running call.
    private let finished = Atomic<Int>(0)
    private var chunks = 0
    private let sleepers = Atomic<Int>(0)
    /// Held by the caller for a whole parallel call.
    private let dispatch = NSLock()
    /// Guards parking and waking.
    private let park = NSCondition()
    /// Read by participating workers only after they see a new generation (acquire), written
    /// before it (release); stable until they report done, because the caller waits for that.
    private var task: Unmanaged<AnyObject>?
    private var workers = 0

    private init() {}

    /// Runs `task.runChunk(i, of: chunks, worker: w)` for every i in 0..<chunks on up to
    /// `threads` threads (the caller is worker 0) and returns when all chunks have finished.
    func run(_ task: KernelPoolTask, chunks c: Int, threads n: Int) {
        guard n > 1, c > 1 else {
            for i in 0..<c { task.runChunk(i, of: c, worker: 0) }
            return
        }
        precondition(n < 256, "KernelWorkerPool: \(n) threads, at most 255")
        precondition(c < 1 << 16, "KernelWorkerPool: \(c) chunks, at most 65535")
        guard dispatch.try() else {
            DispatchQueue.concurrentPerform(iterations: n) { w in
                for i in stride(from: w, to: c, by: n) { task.runChunk(i, of: c, worker: w) }
            }
            return
        }
        defer { dispatch.unlock() }
        startWorkers(upTo: n - 1)
        self.task = Unmanaged.passUnretained(task as AnyObject)
        chunks = c
        finished.store(0, ordering: .relaxed)
        let seq = (generation.load(ordering: .relaxed) >> 8) &+ 1
        nextChunk.store(seq << 32 | c << 16, ordering: .releasing)
        generation.store(seq << 8 | n, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            park.lock(); park.broadcast(); park.unlock()
        }
        claimAndRun(worker: 0, sequence: seq)
        while finished.load(ordering: .acquiring) < c { spinPause() }
        self.task = nil
    }

    /// Claims and runs chunks of call `sequence` until none is left (or that call is over): the
    /// caller (worker 0) from the front, the others from the back.
    private func claimAndRun(worker: Int, sequence: Int) {
        while true {
            let v = nextChunk.load(ordering: .acquiring)
            let start = v & 0xFFFF, end = (v >> 16) & 0xFFFF
            guard v >> 32 == sequence, start < end else { return }
            let (claimed, chunk) = worker == 0 ? (v &+ 1, start) : (v &- (1 << 16), end - 1)
            guard nextChunk.compareExchange(expected: v, desired: claimed, ordering: .acquiringAndReleasing).exchanged,
                  let t = task else { continue }
            // Claimed: the caller waits for this chunk, so `task` and `chunks` are this call's.
            (t.takeUnretainedValue() as! KernelPoolTask).runChunk(chunk, of: chunks, worker: worker)
            finished.add(1, ordering: .releasing)
        }
    }

    private func startWorkers(upTo count: Int) {
        while workers < count {
            workers += 1
            let index = workers, seen = generation.load(ordering: .acquiring)
            let thread = Thread { [unowned self] in self.workerLoop(index: index, seen: seen) }
            thread.name = "tritkernels-worker-\(index)"
            thread.start()
        }
    }

    private func workerLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            var polls = 0
            var since: UInt64 = 0
            var now = generation.load(ordering: .acquiring)
            while now == seen {
                polls += 1
                // Read the clock every 64 polls (a vDSO call, ~20 ns; pause is 10–150 cycles).
                if polls & 63 == 0 {
                    let t = DispatchTime.now().uptimeNanoseconds
                    if since == 0 { since = t }
                    let waited = t - since
                    if waited >= Self.pollNanoseconds {
                        park.lock()
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen { park.wait() }
                        sleepers.subtract(1, ordering: .relaxed)
                        park.unlock()
                        polls = 0; since = 0
                    } else if waited >= Self.yieldAfterNanoseconds {
                        sched_yield()
                    }
                }
                tritbench_cpu_relax()
                now = generation.load(ordering: .acquiring)
            }
            seen = now
            // A worker beyond this call's thread count, or one waking after the call has
            // handed out every chunk, takes nothing (the caller cannot return before every
            // claimed chunk is finished, so `task` is valid for a worker that claims one).
            if index < now & 255 {
                claimAndRun(worker: index, sequence: now >> 8)
            }
        }
    }

    /// The caller's wait for the workers' last chunks.
    @inline(__always) private func spinPause() { tritbench_cpu_relax() }
}

/// Runs work other than the packed kernels (decode attention, the LM head) on the kernels'
/// worker pool, so a decode step's parallel parts all use the threads that are already spinning
/// between layer calls instead of waking a second set (libdispatch's) on the same cores.
public enum KernelThreads {
    /// Calls `body(i)` for every i in 0..<chunks on up to `threads` threads (the caller is one
    /// of them) and returns when all have finished.
    public static func forEachChunk(_ chunks: Int, threads: Int, _ body: @escaping (Int) -> Void) {
        guard threads > 1, chunks > 1 else { for i in 0..<chunks { body(i) }; return }
        KernelWorkerPool.shared.run(ClosureTask(body), chunks: chunks, threads: min(threads, chunks))
    }

    private final class ClosureTask: KernelPoolTask {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
        func runChunk(_ chunk: Int, of chunks: Int, worker: Int) { body(chunk) }
    }
}
