/// An input that the model refused: it names the input and says what is wrong with it.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The offending input, as the user wrote it.
    public let input: String
    /// What is wrong with it.
    public let problem: String

    public init(_ input: String, _ problem: String) {
        self.input = input
        self.problem = problem
    }

    public var description: String { "\(input): \(problem)" }

    /// What a decoding error says, in a few words that name the key at fault; never Swift's
    /// `DecodingError.dataCorrupted(...)` text.
    public static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            if let underlying = context.underlyingError as? ValidationError { return underlying.description }
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
