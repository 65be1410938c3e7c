// TritModel: see README.md for what this module owns. Filled in by its issue.
public enum TritModelModule {
    public static let name = "TritModel"
}
