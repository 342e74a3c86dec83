/// Authenticated encryption of data packets (opt-in). The header is the
/// associated data; the payload is encrypted; a 16-byte tag ends the datagram.
/// Nonces come from the packet number, which a connection never reuses in one
/// direction. `ReliableUDPCrypto.SealedPackets` implements this with
/// ChaCha20-Poly1305 from swift-crypto.
public protocol PacketProtection: AnyObject {
    /// Encrypts `plaintextLength` bytes at `body` in place and writes the
    /// 16-byte tag right after them (the caller leaves room).
    func seal(header: UnsafeRawBufferPointer, packetNumber: UInt64,
              body: UnsafeMutableRawPointer, plaintextLength: Int)
    /// Decrypts `sealed` (ciphertext + tag) into `output` (room for
    /// `sealed.count - 16` bytes); the plaintext length, or nil when the
    /// packet fails authentication (wrong key, altered bytes).
    func open(header: UnsafeRawBufferPointer, packetNumber: UInt64,
              sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) -> Int?
}

/// A message handed to `recv`: a view valid only during the callback.
public struct ReceivedMessage {
    /// The guarantee the message was sent with.
    public let guarantee: Guarantee
    /// The message's sequence number in its tier (0 for `none`).
    public let sequence: UInt64
    /// The message: a view into the datagram (or the reorder buffer), valid only
    /// during the callback. Copy what you keep.
    public let bytes: UnsafeRawBufferPointer
}
