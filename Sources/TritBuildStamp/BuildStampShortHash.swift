// `BuildStamp` itself is generated at build time (see Sources/BuildStampPlugin and
// Scripts/build-stamp.sh); this file gives the target a source of its own and short forms.

extension BuildStamp {
    /// The first 16 hex digits of the content hash: what reports and tuning keys show.
    public static var kernelsContentHashPrefix: String { String(kernelsContentHash.prefix(16)) }
}
