import Foundation
import Testing
@testable import TritCore

/// Issue 23, the classes that live in TritCore: hostile strings (8) and leftovers of killed
/// writes (9), plus the overflow-checked size arithmetic every reader uses (1).
@Suite("bad input: core")
struct BadInputCoreTests {
    @Test func checkedSizesNeverTrap() {
        #expect(CheckedSize.product(1 << 39, 1 << 39) == nil)
        #expect(CheckedSize.product(1 << 62, 2) == nil)
        #expect(CheckedSize.product(3, -1) == nil)
        #expect(CheckedSize.product(1 << 20, 1 << 20, 4) == 1 << 42)
        #expect(CheckedSize.sum(Int.max, 1) == nil)
        #expect(CheckedSize.sum(-1, 5) == nil)
        #expect(!CheckedSize.fits(offset: Int.max - 3, length: 10, within: 100))
        #expect(!CheckedSize.fits(offset: 10, length: Int.max, within: 100))
        #expect(!CheckedSize.fits(offset: -1, length: 1, within: 100))
        #expect(CheckedSize.fits(offset: 90, length: 10, within: 100))
        #expect(!CheckedSize.fits(offset: 91, length: 10, within: 100))
    }

    @Test func hostileStringsAreEscapedForWhereTheyGo() throws {
        // Terminal: escape sequences, carriage returns, bells and bidi overrides become visible.
        #expect(TextEscaping.terminal("a\u{1B}[2Jb") == "a\\u{1b}[2Jb")
        #expect(TextEscaping.terminal("ok\rFAKE\u{07}") == "ok\\u{d}FAKE\\u{7}")
        #expect(TextEscaping.terminal("x\u{202E}y") == "x\\u{202e}y")
        #expect(TextEscaping.terminal("line1\nline2", keepLineBreaks: true) == "line1\nline2")
        #expect(TextEscaping.terminal("line1\nline2") == "line1\\u{a}line2")
        // Markdown: no forged cells, code spans or markup.
        #expect(TextEscaping.markdown("a|b") == "a\\|b")
        #expect(TextEscaping.markdown("<script>&`x`") == "&lt;script&gt;&amp;\\`x\\`")
        // The backslash of a terminal escape is itself escaped, so Markdown shows it literally.
        #expect(TextEscaping.markdown("back\\slash\u{1B}") == "back\\\\slash\\\\u{1b}")
        // Code spans where they are safe (inside one, < and & are literal text), escaped text otherwise.
        #expect(TextEscaping.markdownCode("k/<slow>&") == "`k/<slow>&`")
        #expect(TextEscaping.markdownCode("a|b") == "a\\|b")
        #expect(TextEscaping.markdownCode("a`b") == "a\\`b")
        // Names used in paths.
        for (bad, reason) in [("", "empty"), ("..", "names a directory"), ("a/b", "contains '/'"), ("../x", "contains '/'"),
                              ("x..y", "contains '..'"), ("-rf", "starts with '-'"), ("a\u{0}b", "control character"), ("a\nb", "control character")] {
            let e: String
            do { _ = try PathComponentName(bad, field: "--run-id"); e = "no error" } catch { e = "\(error)" }
            #expect(e.hasPrefix("--run-id '") && e.contains(reason) && e.contains("expected"), "\(bad): \(e)")
        }
        #expect(try PathComponentName("20260101-1200-abc123_x.y", field: "--run-id").value == "20260101-1200-abc123_x.y")
    }

    @Test func leftoversOfKilledWritesAreRemovedByTheNextWrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-left-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A PID that is certainly dead: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run(); child.waitUntilExit()
        let dead = child.processIdentifier
        let me = getpid()
        let names = [".r.json.tmp-\(dead)-1", ".r.json.tmp-\(dead)-2",     // killed writes: removed
                     ".r.json.tmp-\(me)-3",                                // a write in flight: kept
                     ".r.json.tmp-\(me)-4",                                // alive but two days old: removed
                     ".other.json.tmp-\(dead)-5",                          // another target's: not ours to touch
                     ".r.json.tmp-notapid-6"]                              // not our pattern: kept
        for n in names { #expect(FileManager.default.createFile(atPath: dir + "/" + n, contents: Data("x".utf8))) }
        let old = Date().addingTimeInterval(-2 * 24 * 3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir + "/.r.json.tmp-\(me)-4")
        try AtomicFile.write("{}", to: dir + "/r.json")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        #expect(left == [".r.json.tmp-\(me)-3", ".other.json.tmp-\(dead)-5", ".r.json.tmp-notapid-6", "r.json"], "\(left)")
    }

    @Test func pathIdentitySeesThroughLinksAndDots() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-alias-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: dir + "/m.gguf", contents: Data("GGUF".utf8)))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.gguf", withDestinationPath: dir + "/m.gguf")
        #expect(link(dir + "/m.gguf", dir + "/hard.gguf") == 0)
        #expect(PathIdentity.same(dir + "/m.gguf", dir + "/link.gguf"))
        #expect(PathIdentity.same(dir + "/m.gguf", dir + "/hard.gguf"))
        #expect(PathIdentity.same(dir + "/m.gguf", dir + "/sub/../m.gguf"))
        #expect(PathIdentity.same(dir + "/new.trit", dir + "/sub/../new.trit"))
        #expect(!PathIdentity.same(dir + "/m.gguf", dir + "/new.trit"))
    }
}
