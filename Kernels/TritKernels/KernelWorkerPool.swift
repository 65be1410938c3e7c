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
/// call. A worker that has waited longer than `spinLimit` parks on a condition variable, so an
/// idle pool costs no CPU (this machine's cores are shared).
///
/// Work is handed out in chunks claimed from an atomic counter, not in one fixed part per
/// thread: when a worker is not scheduled (the cores are busy with other processes) the caller
/// takes its chunks, so a 2-thread call is never much slower than a 1-thread one.
///
/// One pool serves every kernel of the process (`shared`): each kernel owning threads would
/// mean hundreds of threads in a cold benchmark's copies. Calls are serialised by `dispatch`;
/// a caller that finds the pool busy (another forward running in parallel, or a forward
/// called from inside a pool task) runs its parts with `concurrentPerform` instead, so the
/// pool never deadlocks.
final class KernelWorkerPool: @unchecked Sendable {
    /// Process-wide pool; workers start on first use and grow to the largest count asked.
    static let shared = KernelWorkerPool()

    /// Iterations a worker spins before it parks (≈ 30 µs: the gap between two layers' calls;
    /// longer spins only steal the core from the caller when the machine is busy). Past
    /// `yieldAfter` iterations each one yields the core.
    static let spinLimit = 3_000
    static let yieldAfter = 1_000

    /// (call sequence << 8) | parts: one word, so a worker that wakes late can never pair one
    /// call's sequence with another call's part count.
    private let generation = Atomic<Int>(0)
    /// (call sequence << 32) | next unclaimed chunk of the running call: a worker claims with a
    /// compare-exchange that also checks the sequence, so a late worker cannot claim a chunk of
    /// a call it has not seen start.
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
        nextChunk.store(seq << 32, ordering: .releasing)
        generation.store(seq << 8 | n, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            park.lock(); park.broadcast(); park.unlock()
        }
        claimAndRun(worker: 0, sequence: seq)
        while finished.load(ordering: .acquiring) < c { spinPause() }
        self.task = nil
    }

    /// Claims and runs chunks of call `sequence` until none is left (or that call is over).
    private func claimAndRun(worker: Int, sequence: Int) {
        while true {
            let v = nextChunk.load(ordering: .acquiring)
            guard v >> 32 == sequence, v & 0xFFFF_FFFF < chunks else { return }
            guard nextChunk.compareExchange(expected: v, desired: v &+ 1, ordering: .acquiringAndReleasing).exchanged,
                  let t = task else { continue }
            // Claimed: the caller waits for this chunk, so `task` and `chunks` are this call's.
            (t.takeUnretainedValue() as! KernelPoolTask).runChunk(v & 0xFFFF_FFFF, of: chunks, worker: worker)
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
            var spins = 0
            var now = generation.load(ordering: .acquiring)
            while now == seen {
                spins += 1
                if spins < Self.yieldAfter {
                    spinPause()
                } else if spins < Self.spinLimit {
                    sched_yield()
                } else {
                    park.lock()
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { park.wait() }
                    sleepers.subtract(1, ordering: .relaxed)
                    park.unlock()
                    spins = 0
                }
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

    /// A plain re-read (Swift cannot emit x86 `pause`; this VM has no SMT sibling to yield
    /// to); sched_yield would enter the kernel on every iteration.
    @inline(__always) private func spinPause() {
        _ = sleepers.load(ordering: .relaxed)
    }
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
