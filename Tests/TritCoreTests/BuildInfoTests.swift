import Foundation
import Testing
import TritCore

@Suite struct BuildInfoTests {
    /// The revision comes from the checkout the running executable was built in (the test
    /// runner sits in this package's .build/), not from the working directory: a tool run from
    /// elsewhere must keep its own Kernels/ tree, the key of its tuned records.
    @Test func revisionIsReadFromTheExecutablesCheckout() throws {
        let exe = try #require(Bundle.main.executableURL?.resolvingSymlinksInPath().path)
        let source = BuildInfo.sourceDirectory
        guard exe.contains("/.build") else { return }  // a runner outside the package: nothing to check
        #expect(exe.hasPrefix(source + "/"), "\(exe) is not inside \(source)")
        #expect(FileManager.default.fileExists(atPath: source + "/Package.swift"))
        let info = BuildInfo.current()
        #expect(info.kernelsTree != "unknown" && info.kernelsTree.count == 12)
        #expect(info.kernelsTree == BuildInfo.current(directory: source).kernelsTree)
    }
}
