/// A failed libguestfs call with libguestfs' own message.
public struct GuestfsError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let message: String
    public var description: String { "\(operation): \(message)" }
}
