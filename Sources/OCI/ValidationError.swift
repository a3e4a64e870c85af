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
}
