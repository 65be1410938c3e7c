// `BuildStamp.swift` itself is generated at build time (see Sources/BuildStampPlugin and
// Scripts/build-stamp.sh); this file gives the target a source of its own.

/// A static string literal's bytes as a C string. The generated literals end in an explicit NUL,
/// and a literal's storage lives as long as the program.
func cString(_ literal: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(literal.utf8Start).assumingMemoryBound(to: CChar.self)
}
