/// Who may log in to a `SoupServer`: username/password pairs held in wire form
/// (space padded to 6 and 10 bytes), compared in constant time so the time a
/// rejection takes says nothing about how much of a guess was right.
///
/// ```swift
/// let credentials = Credentials([("feed", "secret")])   // or .anyone
/// ```
public struct Credentials: Sendable {
    /// Each entry: 16 bytes, username (6) then password (10), as on the wire.
    let entries: [[UInt8]]
    /// No check: any username and password are accepted.
    public let acceptsAnyone: Bool

    /// Accepts any username and password (a test feed, a trusted network).
    public static let anyone = Credentials(acceptingAnyone: ())

    init(acceptingAnyone: ()) {
        entries = []
        acceptsAnyone = true
    }

    /// Usernames are at most 6 and passwords at most 10 printable ASCII characters
    /// (SoupBinTCP 3.00, 2.3.1). Matching is case-sensitive on the padded bytes.
    public init(_ pairs: [(username: String, password: String)]) throws(SoupConfigurationError) {
        var entries: [[UInt8]] = []
        for (username, password) in pairs {
            let user = Array(username.utf8)
            let pass = Array(password.utf8)
            guard user.count <= SoupFields.usernameLength, user.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .invalidUsername(username)
            }
            guard pass.count <= SoupFields.passwordLength, pass.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .invalidPassword
            }
            var entry = [UInt8](repeating: 0x20, count: SoupFields.usernameLength + SoupFields.passwordLength)
            entry.replaceSubrange(0..<user.count, with: user)
            entry.replaceSubrange(SoupFields.usernameLength..<(SoupFields.usernameLength + pass.count), with: pass)
            entries.append(entry)
        }
        self.entries = entries
        acceptsAnyone = false
    }

    /// True when the login's username and password fields match an entry. Every
    /// entry and every byte is looked at whatever matches (no early exit).
    public func accepts(username: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer) -> Bool {
        if acceptsAnyone { return true }
        var matched: UInt8 = 0
        for entry in entries {
            var difference: UInt8 = 0
            for i in 0..<SoupFields.usernameLength {
                difference |= entry[i] ^ (i < username.count ? username[i] : 0x20)
            }
            for i in 0..<SoupFields.passwordLength {
                difference |= entry[SoupFields.usernameLength + i] ^ (i < password.count ? password[i] : 0x20)
            }
            // 1 when difference == 0, without a branch on the secret.
            matched |= UInt8(truncatingIfNeeded: (UInt16(difference) &- 1) >> 8) & 1
        }
        return matched != 0
    }
}

/// A `SoupServer` or `SoupClient` configuration that cannot work.
public enum SoupConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A username longer than 6 characters, or with spaces or non-printable bytes
    /// (SoupBinTCP 3.00, 2.3.1); the text is the name.
    case invalidUsername(String)
    /// A password longer than 10 characters, or with spaces or non-printable bytes
    /// (2.3.1). The password itself is not repeated in the error.
    case invalidPassword
    /// A session name longer than 10 characters or not printable ASCII; the text is the name.
    case invalidSession(String)
    /// Another setting out of range; the text names it and the allowed values.
    case invalidSetting(String)

    /// What is wrong, citing the specification's limit.
    public var description: String {
        switch self {
        case .invalidUsername(let name):
            "username '\(name)' must be 1 to 6 printable ASCII characters without spaces (SoupBinTCP 3.00, 2.3.1)"
        case .invalidPassword:
            "passwords must be 1 to 10 printable ASCII characters without spaces (SoupBinTCP 3.00, 2.3.1)"
        case .invalidSession(let name):
            "session '\(name)' must be at most 10 printable ASCII characters"
        case .invalidSetting(let text):
            text
        }
    }
}

/// A session name in SoupBinTCP wire form (10 bytes, padding trimmed when compared).
public struct SoupSessionName: Sendable, Equatable, CustomStringConvertible {
    /// The name's characters (no padding), at most 10.
    public let text: [UInt8]

    /// A session name from text: at most 10 printable ASCII characters, spaces at
    /// either end trimmed. An empty name means "the current session" in a login.
    ///
    /// - Throws: `SoupConfigurationError.invalidSession` when it is too long or not printable.
    public init(_ name: String) throws(SoupConfigurationError) {
        let bytes = Array(name.utf8)
        guard bytes.count <= SoupFields.sessionLength, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalidSession(name)
        }
        text = Array(bytes.drop { $0 == 0x20 }.reversed().drop { $0 == 0x20 }.reversed())
    }

    /// The name from a wire field.
    public init(field: UnsafeRawBufferPointer) {
        text = Array(SoupFields.trimmed(field))
    }

    /// All spaces on the wire: "the currently active session" in a login (2.3.1).
    public var isBlank: Bool { text.isEmpty }

    /// True when the 10-byte wire `field` holds this name, ignoring space padding
    /// on either side (peers differ in how they pad, section 1.2).
    public func matches(_ field: UnsafeRawBufferPointer) -> Bool {
        text.withUnsafeBytes { SoupFields.sameText($0, field) }
    }

    /// The name's characters, without padding.
    public var description: String { String(decoding: text, as: UTF8.self) }
}

/// Where a SoupBinTCP connection's packets go: a TCP stream's send ring, or a
/// buffer in a test. Packets are written whole: a writer checks
/// `writableSpace` first and writes nothing when a packet does not fit.
public protocol SoupOutput: AnyObject {
    /// Bytes that `write` accepts right now.
    var writableSpace: Int { get }
    /// Copies `bytes` out; called only with at most `writableSpace` bytes.
    func write(_ bytes: UnsafeRawBufferPointer)
}
