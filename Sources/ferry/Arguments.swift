import ArgumentParser
import Foundation
import OCI

/// Reference and location arguments, checked while the command line is parsed: a malformed one
/// is a usage error (status 2) that names the forms there are.
enum Arguments {
    /// `90s`, `30m`, `1h`, `2d`, `500ms`, or plain seconds.
    static func duration(_ text: String) -> TimeInterval? {
        if text.hasSuffix("ms"), let value = Double(text.dropLast(2)), value >= 0 { return value / 1000 }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value >= 0 { return value * scale }
        if let value = Double(text), value >= 0 { return value }
        return nil
    }

    /// `text` as a reference, or a usage error.
    static func reference(_ text: String) throws -> Reference {
        do {
            return try Reference(parsing: text)
        } catch let error as OCI.ValidationError {
            throw UsageError(explained(error, forms: Reference.forms))
        }
    }

    /// `text` as a location, or a usage error.
    static func location(_ text: String) throws -> Location {
        do {
            return try Location(parsing: text)
        } catch let error as OCI.ValidationError {
            throw UsageError(explained(error, forms: Location.forms))
        }
    }

    /// `verify`'s argument: a reference, or a location where the two are written differently
    /// (`epoch:DIR`, `cocoon:ROOT`, `docker://HOST`); a malformed `oci:` reference is not taken
    /// for a location.
    @discardableResult
    static func target(_ text: String) throws -> Reference? {
        do {
            return try reference(text)
        } catch {
            guard text.hasPrefix("epoch:") || text.hasPrefix("cocoon:") || text.hasPrefix("docker:") else { throw error }
            _ = try location(text)
            return nil
        }
    }

    /// `--platform os/arch[/variant]`, or a usage error.
    static func platform(_ text: String?) throws -> Platform? {
        guard let text else { return nil }
        do {
            return try Platform(parsing: text)
        } catch {
            throw UsageError("--platform \(text): write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")
        }
    }

    /// A validation message that ends with the forms, unless it already lists them.
    private static func explained(_ error: OCI.ValidationError, forms: [String]) -> String {
        error.problem.contains("one of:") ? error.description : "\(error.description) (forms: \(forms.joined(separator: ", ")))"
    }
}
