// TritQuant: see README.md for what this module owns. Filled in by its issue.
public enum TritQuantModule {
    public static let name = "TritQuant"
}
