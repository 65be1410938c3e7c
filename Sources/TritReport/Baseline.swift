import Foundation
import TritCore

/// The committed regression baseline under `Reports/baseline/`: changed only on request.
public enum Baseline {
    /// Copies a result file to `<directory>/result.json` atomically. Refuses to replace an
    /// existing baseline unless `force` is set, so a baseline never changes silently.
    public static func update(from resultPath: String, directory: String = "Reports/baseline", force: Bool) throws -> String {
        let result = try RunResult.load(path: resultPath)  // validates before anything is written
        let dest = directory + "/result.json"
        if FileManager.default.fileExists(atPath: dest) && !force {
            throw FileError.refusingToOverwrite(path: dest, hint: "A baseline exists; pass --force to replace it with \(resultPath).")
        }
        try AtomicFile.writeJSON(result, to: dest)
        return dest
    }

    /// Resolves a compare argument: a result.json, or a directory holding one.
    public static func resultPath(_ pathOrDirectory: String) -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: pathOrDirectory, isDirectory: &isDir), isDir.boolValue {
            return pathOrDirectory + "/result.json"
        }
        return pathOrDirectory
    }
}
