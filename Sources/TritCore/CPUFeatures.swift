import CTritSupport
import Foundation

/// Instruction-set features detected at run time (CPUID + XGETBV on x86-64, HWCAP on arm64).
///
/// Kernels choose their inner loops from this, never from compile-time flags alone: the AVX2
/// code is compiled in a separate target and only called when `avx2 && fma` are present and the
/// OS saves the YMM state.
public struct CPUFeatures: Codable, Equatable, Sendable {
    public var sse42 = false
    public var avx = false
    public var avx2 = false
    public var fma = false
    public var bmi2 = false
    public var f16c = false
    public var popcnt = false
    public var avx512f = false
    public var avx512bw = false
    public var avx512vl = false
    public var avx512vnni = false
    /// AVX512-VBMI: byte permutes across a whole zmm (`vpermb`, `vpermi2b`: 128-entry byte tables).
    public var avx512vbmi = false
    public var avxVNNI = false
    /// Galois-field byte instructions (GF2P8AFFINEQB): a per-byte bit permutation in one op.
    public var gfni = false
    public var neon = false
    /// CPUID leaf 1 ECX bit 31: set by hypervisors for their guests.
    public var hypervisor = false

    public init() {}

    /// Every flag is optional when decoding, so result files written before a flag existed
    /// (the committed baselines) still load; a flag a file does not list reads as absent.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func flag(_ key: CodingKeys) throws -> Bool { try c.decodeIfPresent(Bool.self, forKey: key) ?? false }
        sse42 = try flag(.sse42); avx = try flag(.avx); avx2 = try flag(.avx2); fma = try flag(.fma)
        bmi2 = try flag(.bmi2); f16c = try flag(.f16c); popcnt = try flag(.popcnt)
        avx512f = try flag(.avx512f); avx512bw = try flag(.avx512bw); avx512vl = try flag(.avx512vl)
        avx512vnni = try flag(.avx512vnni); avx512vbmi = try flag(.avx512vbmi); avxVNNI = try flag(.avxVNNI); gfni = try flag(.gfni)
        neon = try flag(.neon); hypervisor = try flag(.hypervisor)
    }

    /// The features the kernels may use: the CPU's, capped by `TRITBENCH_ISA` where it is set
    /// (so a user reproduces an older CPU's dispatch on a newer one). An invalid value caps
    /// nothing here; the CLI refuses it at start-up (`ISALevel.fromEnvironment`).
    public static let current: CPUFeatures = {
        guard case .success(let cap?) = ISALevel.fromEnvironment() else { return detected }
        return detected.capped(at: cap)
    }()

    /// The features of the CPU this process runs on, as CPUID reports them.
    public static let detected: CPUFeatures = detect()

    /// This set with every feature above `level` hidden. Never adds a feature.
    public func capped(at level: ISALevel) -> CPUFeatures {
        var f = self
        if level < .avx512 {
            f.avx512f = false; f.avx512bw = false; f.avx512vl = false; f.avx512vnni = false; f.avx512vbmi = false
            f.gfni = false
        }
        if level < .avx2 { f.avx2 = false; f.fma = false; f.bmi2 = false; f.f16c = false; f.avxVNNI = false }
        return f
    }

    /// The distinct feature sets the kernel dispatcher can choose loops for on this CPU, from
    /// the portable fallback up to the CPU's own: portable, AVX2 (Zen 3, Skylake client),
    /// AVX-512 VNNI without VBMI and GFNI (Cascade Lake), then + VBMI, then + GFNI. Kernel tests
    /// run every one, so a host with AVX-512 still checks the loops an older CPU would run.
    public var dispatchLevels: [(name: String, features: CPUFeatures)] {
        var levels: [(String, CPUFeatures)] = [("portable", capped(at: .portable))]
        if supportsAVX2Kernels { levels.append(("avx2", capped(at: .avx2))) }
        if supportsVNNIKernels {
            var cascadeLake = self
            cascadeLake.avx512vbmi = false; cascadeLake.gfni = false
            levels.append(("avx512-vnni", cascadeLake))
            if avx512vbmi { var v = cascadeLake; v.avx512vbmi = true; levels.append(("avx512-vnni+vbmi", v)) }
            if gfni { var g = cascadeLake; g.avx512vbmi = avx512vbmi; g.gfni = true; levels.append((avx512vbmi ? "avx512-vnni+vbmi+gfni" : "avx512-vnni+gfni", g)) }
        }
        return levels
    }

    /// Names of the features that are present, in a fixed order.
    public var names: [String] {
        var n: [String] = []
        if sse42 { n.append("sse4.2") }
        if popcnt { n.append("popcnt") }
        if avx { n.append("avx") }
        if avx2 { n.append("avx2") }
        if fma { n.append("fma") }
        if bmi2 { n.append("bmi2") }
        if f16c { n.append("f16c") }
        if avx512f { n.append("avx512f") }
        if avx512bw { n.append("avx512bw") }
        if avx512vl { n.append("avx512vl") }
        if avx512vnni { n.append("avx512vnni") }
        if avx512vbmi { n.append("avx512vbmi") }
        if avxVNNI { n.append("avx-vnni") }
        if gfni { n.append("gfni") }
        if neon { n.append("neon") }
        return n
    }

    /// Whether the AVX2 kernel family may run here.
    public var supportsAVX2Kernels: Bool { avx2 && fma }

    /// Whether the AVX-512 VNNI loops (`vpdpbusd` on zmm registers in the GEMM tile and the GEMV
    /// loop, with AVX512BW/VL for their byte and 256-bit forms) may run here, on top of the AVX2 family.
    public var supportsVNNIKernels: Bool { supportsAVX2Kernels && avx512f && avx512bw && avx512vl && avx512vnni }

    /// Whether the AVX-512 GEMV loop may decode 2-bit codes with GF2P8AFFINEQB (one op per
    /// code vector instead of a shift and an AND; Ice Lake and Zen 4 have it, Cascade Lake not).
    public var supportsGFNIDecode: Bool { supportsVNNIKernels && gfni }

    /// Whether the 243-entry table-lookup loop over base-3 bytes may run here: `vpermi2b` (VBMI)
    /// looks up 64 rows' bytes in a 128-byte table per instruction; AVX512BW for the byte masks
    /// and int16 adds (Ice Lake and Zen 4 have it; Skylake-SP and Cascade Lake do not).
    public var supportsVBMILookup: Bool { supportsAVX2Kernels && avx512f && avx512bw && avx512vl && avx512vbmi }

    static func detect() -> CPUFeatures {
        var f = CPUFeatures()
        #if arch(x86_64)
        var r: [UInt32] = [0, 0, 0, 0]
        _ = tritbench_cpuid(1, 0, &r)
        let ecx1 = r[2]
        f.sse42 = ecx1 & (1 << 20) != 0
        f.popcnt = ecx1 & (1 << 23) != 0
        f.fma = ecx1 & (1 << 12) != 0
        f.f16c = ecx1 & (1 << 29) != 0
        f.hypervisor = ecx1 & (1 << 31) != 0
        let osxsave = ecx1 & (1 << 27) != 0
        let xcr0 = osxsave ? tritbench_xgetbv0() : 0
        let ymmSaved = xcr0 & 0b110 == 0b110
        let zmmSaved = xcr0 & 0xE6 == 0xE6
        f.avx = ecx1 & (1 << 28) != 0 && ymmSaved
        f.fma = f.fma && ymmSaved
        f.f16c = f.f16c && ymmSaved
        _ = tritbench_cpuid(7, 0, &r)
        let ebx7 = r[1], ecx7 = r[2]
        f.avx2 = ebx7 & (1 << 5) != 0 && ymmSaved
        f.bmi2 = ebx7 & (1 << 8) != 0
        f.avx512f = ebx7 & (1 << 16) != 0 && zmmSaved
        f.avx512bw = ebx7 & (1 << 30) != 0 && zmmSaved
        f.avx512vl = ebx7 & (1 << 31) != 0 && zmmSaved
        f.avx512vnni = ecx7 & (1 << 11) != 0 && zmmSaved
        f.avx512vbmi = ecx7 & (1 << 1) != 0 && zmmSaved
        f.gfni = ecx7 & (1 << 8) != 0
        _ = tritbench_cpuid(7, 1, &r)
        f.avxVNNI = r[0] & (1 << 4) != 0 && ymmSaved
        #elseif arch(arm64)
        f.neon = true  // ASIMD is mandatory on AArch64
        #endif
        return f
    }
}

/// A ceiling on the instruction sets the kernels may use (`TRITBENCH_ISA`).
public enum ISALevel: String, CaseIterable, Codable, Comparable, Sendable {
    /// Portable Swift SIMD and scalar loops only.
    case portable
    /// Up to AVX2 + FMA (the AVX2 kernel family).
    case avx2
    /// Everything the CPU has (AVX-512 VNNI, VBMI, GFNI where present).
    case avx512

    public static func < (a: ISALevel, b: ISALevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// `TRITBENCH_ISA` parsed: nil when unset or empty, or an error naming the value and the choices.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Result<ISALevel?, ISALevelError> {
        guard let raw = env["TRITBENCH_ISA"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .success(nil) }
        guard let level = ISALevel(rawValue: raw.lowercased()) else { return .failure(ISALevelError(value: raw)) }
        return .success(level)
    }
}

public struct ISALevelError: Error, CustomStringConvertible, Equatable {
    public var value: String
    public var description: String {
        "TRITBENCH_ISA=\"\(value)\": expected one of \(ISALevel.allCases.map(\.rawValue).joined(separator: ", "))"
    }
}

/// The CPU as the OS describes it: vendor, model name, caches, cores.
public struct CPUDescription: Codable, Equatable, Sendable {
    public var vendor: String
    public var model: String
    public var logicalCores: Int
    /// Cache sizes in bytes by level name ("L1d", "L1i", "L2", "L3"); absent when unknown.
    public var caches: [String: Int]
    /// The features the kernels may use (CPUID's, capped by `TRITBENCH_ISA`).
    public var features: CPUFeatures
    public var virtualized: Bool
    /// The `TRITBENCH_ISA` cap in effect, and the features CPUID reported before it (nil when uncapped).
    public var isaCap: ISALevel?
    public var detectedFeatures: CPUFeatures?

    public static func current() -> CPUDescription {
        var vendor = "unknown", model = "unknown"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { continue }
                if parts[0] == "vendor_id", vendor == "unknown" { vendor = parts[1] }
                if parts[0] == "model name", model == "unknown" { model = parts[1] }
                if parts[0] == "CPU implementer", vendor == "unknown" { vendor = "ARM implementer " + parts[1] }
            }
        }
        #if arch(x86_64)
        var r: [UInt32] = [0, 0, 0, 0]
        if vendor == "unknown", tritbench_cpuid(0, 0, &r) != 0 {
            var bytes: [UInt8] = []
            for reg in [r[1], r[3], r[2]] { for i in 0..<4 { bytes.append(UInt8((reg >> (8 * UInt32(i))) & 0xFF)) } }
            vendor = String(decoding: bytes, as: UTF8.self)
        }
        #endif
        let features = CPUFeatures.current
        let hypervisorFile = FileManager.default.fileExists(atPath: "/sys/hypervisor/type")
        return CPUDescription(vendor: vendor, model: model,
                              logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                              caches: cacheSizes(), features: features,
                              virtualized: features.hypervisor || hypervisorFile,
                              isaCap: features == .detected ? nil : (try? ISALevel.fromEnvironment().get()) ?? nil,
                              detectedFeatures: features == .detected ? nil : .detected)
    }

    /// Reads /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
    static func cacheSizes() -> [String: Int] {
        var out: [String: Int] = [:]
        let base = "/sys/devices/system/cpu/cpu0/cache"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base) else { return out }
        for e in entries where e.hasPrefix("index") {
            func read(_ f: String) -> String? {
                (try? String(contentsOfFile: "\(base)/\(e)/\(f)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let level = read("level"), let type = read("type"), let size = read("size") else { continue }
            var bytes = Int(size.filter(\.isNumber)) ?? 0
            if size.hasSuffix("K") { bytes *= 1024 } else if size.hasSuffix("M") { bytes *= 1024 * 1024 }
            let name: String
            switch type {
            case "Data": name = "L\(level)d"
            case "Instruction": name = "L\(level)i"
            default: name = "L\(level)"
            }
            out[name] = bytes
        }
        return out
    }

    /// Size of the last-level cache in bytes (32 MiB when unknown).
    public var lastLevelCacheBytes: Int { caches["L3"] ?? caches["L2"] ?? 32 << 20 }

    /// A stable identifier of this CPU for per-CPU caches: model, features and cache sizes.
    public var fingerprint: String {
        let text = "\(vendor)|\(model)|\(features.names.joined(separator: ","))|\(caches.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
        let slug = model.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let compact = String(slug).split(separator: "-").prefix(5).joined(separator: "-")
        return "\(compact)-\(String(h, radix: 16))"
    }
}
