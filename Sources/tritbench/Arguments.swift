import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritRun

/// The command line's typed values: each parses where the argument is read, so a command's
/// `run()` receives shapes and formats, never strings to split again. A value that does not
/// parse is a usage error naming the option, the value and (through the option's help) what
/// was expected.
extension MatrixShape: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var defaultCompletionKind: CompletionKind { .default }
}

extension PackedFormatKind: ExpressibleByArgument {}

/// A comma-separated list of values ("576x576,1536x576", "2bit,base3"); empty items are an error.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    let values: [Element]

    init?(argument: String) {
        let items = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let parsed = items.compactMap { Element(argument: $0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, parsed.count == items.count else { return nil }
        values = parsed
    }

    static var allValueStrings: [String] { Element.allValueStrings }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// Kernel parameters "name=value,…"; names and ranges are checked against the variant later.
extension KernelConfiguration: ExpressibleByArgument {
    public init?(argument: String) {
        guard let c = try? KernelConfiguration(parsing: argument) else { return nil }
        self = c
    }
}

extension FormatSelection: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { PackedFormatKind.allValueStrings }
}

/// `--group-size`: columns per scale group, or "row" for one group per row.
struct ScaleGroupArgument: ExpressibleByArgument, CustomStringConvertible {
    /// nil: one group per row.
    let columns: Int?
    init(columns: Int?) { self.columns = columns }
    init?(argument: String) {
        if argument.lowercased() == "row" { columns = nil; return }
        guard let n = Int(argument), n > 0 else { return nil }
        columns = n
    }
    var description: String { columns.map(String.init) ?? "row" }
}
