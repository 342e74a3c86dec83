/// The SoupBinTCP 3.00 packet types (the byte after the length, section 2).
public enum PacketType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// `+` Debug (2.1): human-readable text, either direction; ignored by peers.
    case debug = 0x2B
    /// `A` Login Accepted (2.2.1): session (10) + next sequence number (20).
    case loginAccepted = 0x41
    /// `J` Login Rejected (2.2.2): reason code (1).
    case loginRejected = 0x4A
    /// `S` Sequenced Data (2.2.3): one message; its number is implied by order.
    case sequencedData = 0x53
    /// `H` Server Heartbeat (2.2.4).
    case serverHeartbeat = 0x48
    /// `Z` End of Session (2.2.5): no more messages will come.
    case endOfSession = 0x5A
    /// `L` Login Request (2.3.1): username (6), password (10), session (10), sequence (20).
    case loginRequest = 0x4C
    /// `U` Unsequenced Data (2.3.2): a client message, not sequenced.
    case unsequencedData = 0x55
    /// `R` Client Heartbeat (2.3.3).
    case clientHeartbeat = 0x52
    /// `O` Logout Request (2.3.4).
    case logoutRequest = 0x4F

    /// Payload bytes the spec fixes for this type, or nil when it is variable.
    public var fixedPayloadLength: Int? {
        switch self {
        case .loginAccepted: SoupFields.sessionLength + SoupFields.sequenceLength
        case .loginRejected: 1
        case .loginRequest: SoupFields.usernameLength + SoupFields.passwordLength
            + SoupFields.sessionLength + SoupFields.sequenceLength
        case .serverHeartbeat, .endOfSession, .clientHeartbeat, .logoutRequest: 0
        case .debug, .sequencedData, .unsequencedData: nil
        }
    }

    /// True for the types a server sends (a client must not receive the others).
    public var isFromServer: Bool {
        switch self {
        case .debug, .loginAccepted, .loginRejected, .sequencedData, .serverHeartbeat, .endOfSession: true
        case .loginRequest, .unsequencedData, .clientHeartbeat, .logoutRequest: false
        }
    }

    /// True for the types a client sends (debug goes both ways).
    public var isFromClient: Bool { self == .debug || !isFromServer }

    /// The packet's name as the specification writes it, e.g. `Login Accepted`.
    public var description: String {
        switch self {
        case .debug: "Debug"
        case .loginAccepted: "Login Accepted"
        case .loginRejected: "Login Rejected"
        case .sequencedData: "Sequenced Data"
        case .serverHeartbeat: "Server Heartbeat"
        case .endOfSession: "End of Session"
        case .loginRequest: "Login Request"
        case .unsequencedData: "Unsequenced Data"
        case .clientHeartbeat: "Client Heartbeat"
        case .logoutRequest: "Logout Request"
        }
    }
}

/// Why a server refused a login (Login Rejected reason code, 2.2.2).
public enum RejectReason: UInt8, Sendable, CustomStringConvertible {
    /// `A`: the username or password was wrong.
    case notAuthorized = 0x41
    /// `S`: the requested session is not available.
    case sessionNotAvailable = 0x53

    /// The reason in words, with its likely cause.
    public var description: String {
        switch self {
        case .notAuthorized: "not authorized (wrong username or password)"
        case .sessionNotAvailable: "session not available"
        }
    }
}
