import Foundation
import TritCore

/// Everything `tritbench env` reports, and the context block of every result file.
public struct EnvironmentReport: Codable, Equatable, Sendable {
    public var cpu: CPUDescription
    public var os: String
    public var kernel: String
    public var architecture: String
    public var build: BuildInfo
    /// PAPI's view of the machine, or nil with `papiError` when PAPI could not initialise.
    public var papi: PAPIContext?
    public var papiError: PAPIError?
    public var perfEventParanoid: Int?
    /// The PMUs the kernel lists in /sys/bus/event_source/devices (nil in files written before it was recorded).
    public var perfEventSources: [String]?
    /// The counter backends tried, in order (nil in files written before there were two).
    public var counterBackends: [CounterBackendKind]?
    /// Each standard event probed for real; empty when probing was skipped.
    public var events: [EventProbeResult]
    public var date: Date
    public var hostname: String

    /// Collects the environment. `probeEvents` runs the real add/start/read/stop probes.
    public static func collect(probeEvents: Bool = true, events: [String] = EventProbe.standardEvents) -> EnvironmentReport {
        var uts = utsname()
        uname(&uts)
        func field<T>(_ v: T) -> String {
            withUnsafeBytes(of: v) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        }
        var osName = field(uts.sysname)
        if let rel = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = rel.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            osName = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        var papiContext: PAPIContext?
        var papiError: PAPIError?
        switch PAPILibrary.initialization {
        case .success(let c): papiContext = c
        case .failure(let e): papiError = e
        }
        return EnvironmentReport(
            cpu: CPUDescription.current(), os: osName,
            kernel: "\(field(uts.sysname)) \(field(uts.release))", architecture: field(uts.machine),
            build: BuildInfo.current(), papi: papiContext, papiError: papiError,
            perfEventParanoid: PerfEventHost.paranoid, perfEventSources: PerfEventHost.pmus,
            counterBackends: CounterBackends.standard.map(\.kind),
            events: probeEvents ? EventProbe.probe(events) : [],
            date: Date(), hostname: ProcessInfo.processInfo.hostName)
    }

    /// Human-readable text for the terminal.
    public func text() -> String {
        var s = ""
        func line(_ k: String, _ v: String) { s += k.padding(toLength: 22, withPad: " ", startingAt: 0) + v + "\n" }
        line("CPU", "\(cpu.vendor) — \(cpu.model)")
        line("ISA features", cpu.features.names.joined(separator: " "))
        if let cap = cpu.isaCap, let detected = cpu.detectedFeatures {
            line("ISA cap", "TRITBENCH_ISA=\(cap.rawValue): the kernels use the features above; CPUID reports \(detected.names.joined(separator: " "))")
        }
        line("logical cores", "\(cpu.logicalCores)")
        let caches = ["L1d", "L1i", "L2", "L3"].compactMap { k in cpu.caches[k].map { "\(k) \(Self.bytes($0))" } }
        line("caches", caches.isEmpty ? "unknown" : caches.joined(separator: ", "))
        line("virtualised", cpu.virtualized ? "yes\(papi.map { $0.virtualVendor.isEmpty ? "" : " (\($0.virtualVendor))" } ?? "")" : "no")
        line("OS", os)
        line("kernel", "\(kernel) \(architecture)")
        line("Swift", "\(build.swiftVersion) (\(build.compilerVersion))")
        line("build", "\(build.configuration), kernel flags: \(build.kernelFlags.isEmpty ? "none" : build.kernelFlags.joined(separator: "; "))")
        line("kernels", "content hash \(build.kernelsContentHash) (Kernels/ at build time; the key of tuning records)")
        line("git revision", build.gitRevision + (build.gitDirty ? " (dirty)" : ""))
        if let p = papi {
            line("PAPI", "\(p.version), perf_event hardware counters: \(p.hardwareCounters)")
        } else if let e = papiError {
            line("PAPI", "unavailable: \(e)")
        }
        line("perf_event_paranoid", perfEventParanoid.map(String.init) ?? "unreadable")
        if let sources = perfEventSources {
            line("perf event sources", sources.isEmpty ? "none listed" : sources.joined(separator: " ")
                 + (sources.contains { $0 == "cpu" || $0.hasPrefix("cpu_") } ? "" : " (no core PMU: no hardware events)"))
        }
        if !events.isEmpty {
            let order = (counterBackends ?? [.papi]).map(\.rawValue).joined(separator: ", then ")
            s += "\nCounters (each event tried with \(order): opened, started, counted a small loop, read, stopped):\n"
            for e in events {
                let name = e.event.padding(toLength: 24, withPad: " ", startingAt: 0)
                if e.available, let c = e.count {
                    s += "  \(name) counted by \((e.backend?.rawValue ?? "?").padding(toLength: 10, withPad: " ", startingAt: 0)) \(c)\(e.scaled ? " (scaled: multiplexed)" : "")\n"
                    for f in e.failures { s += "  \(String(repeating: " ", count: 24))   (\(f))\n" }
                } else {
                    s += "  \(name) NOT COUNTED\n"
                    for f in e.failures { s += "  \(String(repeating: " ", count: 24))   \(f)\n" }
                    if e.failures.isEmpty { s += "  \(String(repeating: " ", count: 24))   no backend was tried\n" }
                }
            }
        }
        return s
    }

    /// A byte count as "32 KiB", "16 MiB".
    public static func bytes(_ b: Int) -> String {
        b >= 1 << 20 ? "\(b >> 20) MiB" : b >= 1 << 10 ? "\(b >> 10) KiB" : "\(b) B"
    }
}
