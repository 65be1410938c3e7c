import Foundation

/// Whether two paths name the same file, as the file system sees it: after resolving symbolic
/// links and `..` (`realpath`), and for existing files by device and inode (so a hard link is
/// caught too). A path that does not exist yet is compared by its resolved parent directory and
/// name. Used to refuse an output that would overwrite an input.
public enum PathIdentity {
    public static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return resolved(a) == resolved(b)
    }

    /// `realpath` of the path, or of its parent directory joined with its last component when the
    /// path itself does not exist yet.
    public static func resolved(_ path: String) -> String {
        if let r = realpath(path, nil) { defer { free(r) }; return String(cString: r) }
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        if let r = realpath(parent, nil) { defer { free(r) }; return String(cString: r) + "/" + url.lastPathComponent }
        return url.standardizedFileURL.path
    }
}
