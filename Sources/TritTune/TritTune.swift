// TritTune: see README.md for what this module owns. Filled in by its issue.
public enum TritTuneModule {
    public static let name = "TritTune"
}
