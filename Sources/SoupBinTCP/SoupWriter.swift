/// Encodes SoupBinTCP 3.00 packets into caller-provided memory: nothing
/// allocates. Each function writes one whole packet at `pointer` and returns
/// its size on the wire; the caller makes sure that much room is there
/// (`frameSize(payload:)`).
///
/// ```swift
/// let size = SoupWriter.loginRequest(username: user, password: pass, session: blank,
///                                    sequence: 1, to: buffer)
/// ```
public enum SoupWriter {
    /// Bytes a packet with `payload` payload bytes takes on the wire.
    @inlinable
    public static func frameSize(payload: Int) -> Int { SoupPacket.headerSize + payload }

    /// Length field and type; returns the header size.
    @inlinable @discardableResult
    public static func header(_ type: PacketType, payload: Int, to pointer: UnsafeMutableRawPointer) -> Int {
        precondition(payload < SoupPacket.maxWireLength, "a SoupBinTCP payload is at most 65534 bytes")
        let length = payload + 1
        // Safety: the caller guarantees headerSize writable bytes.
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: length >> 8), as: UInt8.self)
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: length), toByteOffset: 1, as: UInt8.self)
        pointer.storeBytes(of: type.rawValue, toByteOffset: 2, as: UInt8.self)
        return SoupPacket.headerSize
    }

    /// A packet without payload: heartbeats, End of Session, Logout Request.
    @inlinable
    public static func empty(_ type: PacketType, to pointer: UnsafeMutableRawPointer) -> Int {
        header(type, payload: 0, to: pointer)
    }

    /// Debug, Sequenced Data or Unsequenced Data carrying `payload`.
    @inlinable
    public static func data(_ type: PacketType, _ payload: UnsafeRawBufferPointer, to pointer: UnsafeMutableRawPointer) -> Int {
        header(type, payload: payload.count, to: pointer)
        if let base = payload.baseAddress, payload.count > 0 {
            // Safety: the caller made room for frameSize(payload:) bytes.
            (pointer + SoupPacket.headerSize).copyMemory(from: base, byteCount: payload.count)
        }
        return frameSize(payload: payload.count)
    }

    /// Login Accepted: `session` (padded on the left, 2.2.1) and the next sequence number.
    public static func loginAccepted(session: UnsafeRawBufferPointer, sequence: UInt64,
                                     to pointer: UnsafeMutableRawPointer) -> Int {
        let payload = SoupFields.sessionLength + SoupFields.sequenceLength
        header(.loginAccepted, payload: payload, to: pointer)
        let body = pointer + SoupPacket.headerSize
        SoupFields.writeAlpha(SoupFields.trimmed(session), count: SoupFields.sessionLength, rightJustified: true, to: body)
        SoupFields.writeSequence(sequence, to: body + SoupFields.sessionLength)
        return frameSize(payload: payload)
    }

    /// Writes a Login Rejected packet with `reason` at `pointer` (4 bytes); returns
    /// the bytes written.
    public static func loginRejected(_ reason: RejectReason, to pointer: UnsafeMutableRawPointer) -> Int {
        header(.loginRejected, payload: 1, to: pointer)
        (pointer + SoupPacket.headerSize).storeBytes(of: reason.rawValue, as: UInt8.self)
        return frameSize(payload: 1)
    }

    /// Login Request (2.3.1): username and password left-justified, the session
    /// (empty = the current one) padded on the left, the sequence number (0 =
    /// from the next new message) padded on the left.
    public static func loginRequest(username: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer,
                                    session: UnsafeRawBufferPointer, sequence: UInt64,
                                    to pointer: UnsafeMutableRawPointer) -> Int {
        let payload = PacketType.loginRequest.fixedPayloadLength!
        header(.loginRequest, payload: payload, to: pointer)
        var body = pointer + SoupPacket.headerSize
        SoupFields.writeAlpha(username, count: SoupFields.usernameLength, rightJustified: false, to: body)
        body += SoupFields.usernameLength
        SoupFields.writeAlpha(password, count: SoupFields.passwordLength, rightJustified: false, to: body)
        body += SoupFields.passwordLength
        SoupFields.writeAlpha(SoupFields.trimmed(session), count: SoupFields.sessionLength, rightJustified: true, to: body)
        body += SoupFields.sessionLength
        SoupFields.writeSequence(sequence, to: body)
        return frameSize(payload: payload)
    }
}
