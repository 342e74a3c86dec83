import Crypto
import Foundation
import ReliableUDP

/// ChaCha20-Poly1305 (RFC 8439) protection of ReliableUDP data packets with a
/// pre-shared key: the 20-byte header is the associated data, the frames are
/// encrypted, the 16-byte tag ends the datagram.
///
/// Keys: one per direction, HKDF-SHA256 (RFC 5869) from the pre-shared key
/// with info "rudp v1 initiator" / "rudp v1 responder", so the two directions
/// never share a (key, nonce) pair. Nonce: 4 zero bytes + the packet number
/// (big-endian); a connection never reuses a packet number in one direction
/// (RFC 8439 §2.8 requires a unique nonce per key). Replays are refused by the
/// connection's received-packet set before decryption is even tried.
///
/// Allocation: swift-crypto's `ChaChaPoly.seal`/`open` return their result in a
/// new `Data` (its API has no seal-into-caller's-buffer form and makes a new
/// BoringSSL context per call), so a protected packet costs heap allocations:
/// 13 per seal and 5 per open with swift-crypto 3.12 (the gate
/// `Mallocs.Connection.DeliveryEncrypted` holds the count). What is ours is
/// allocation-free: the nonce is built on the stack, and `open` hands swift-crypto
/// one contiguous nonce + ciphertext + tag from a buffer kept across calls.
///
/// ```swift
/// let key = try SealedPackets.readKey(path: "/etc/rudp.key")
/// connection.protection = try SealedPackets(preSharedKey: key, isInitiator: true)
/// ```
public final class SealedPackets: PacketProtection {
    let sealKey: SymmetricKey
    let openKey: SymmetricKey
    /// nonce + ciphertext + tag of the packet being opened: `SealedBox(combined:)`
    /// copies it once, where `SealedBox(nonce:ciphertext:tag:)` concatenates three
    /// `Data` (six allocations). Grows to the largest packet seen, then stays.
    var combined: UnsafeMutableRawBufferPointer

    /// Derives the two direction keys from `preSharedKey`. The side that sent the
    /// first hello passes `isInitiator: true`, the server `false`, so each seals
    /// with the key the other opens with.
    ///
    /// - Throws: `KeyError.invalid` when the key has fewer than 16 bytes.
    public init(preSharedKey: [UInt8], isInitiator: Bool) throws {
        guard preSharedKey.count >= 16 else {
            throw KeyError.invalid("pre-shared key has \(preSharedKey.count) bytes; use at least 16 (32 random bytes recommended: head -c 32 /dev/urandom > key)")
        }
        let material = SymmetricKey(data: preSharedKey)
        func derive(_ label: String) -> SymmetricKey {
            HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data(label.utf8), outputByteCount: 32)
        }
        let initiator = derive("rudp v1 initiator")
        let responder = derive("rudp v1 responder")
        sealKey = isInitiator ? initiator : responder
        openKey = isInitiator ? responder : initiator
        combined = .allocate(byteCount: 2048, alignment: 8)
    }

    deinit { combined.deallocate() }

    /// Reads a key file: hex text (at least 32 hex digits, e.g. 64 for 32 bytes;
    /// surrounding whitespace ignored) or else the raw bytes.
    ///
    /// - Throws: `KeyError.invalid` when the file cannot be read, naming the
    ///   command that makes one.
    public static func readKey(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError.invalid("cannot read key file \(path); create one with: head -c 32 /dev/urandom > \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count >= 32, text.count % 2 == 0, text.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                bytes.append(UInt8(text[index..<next], radix: 16)!)
                index = next
            }
            return bytes
        }
        return [UInt8](data)
    }

    /// A key that cannot be used, or a key file that cannot be read.
    public enum KeyError: Error, CustomStringConvertible {
        /// The text says what is wrong and how to make a good key.
        case invalid(String)
        /// `ReliableUDP key:` followed by the cause and the fix.
        public var description: String {
            switch self { case .invalid(let text): "ReliableUDP key: \(text)" }
        }
    }

    /// 4 zero bytes + the packet number, big-endian, built on the stack (an
    /// array here cost an allocation per packet).
    static func withNonceBytes<Result>(_ packetNumber: UInt64, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var bytes: (UInt32, UInt32, UInt32) = (0, UInt32(truncatingIfNeeded: packetNumber >> 32).bigEndian,
                                               UInt32(truncatingIfNeeded: packetNumber).bigEndian)
        return withUnsafeBytes(of: &bytes, body)
    }

    static func nonce(_ packetNumber: UInt64) -> ChaChaPoly.Nonce {
        withNonceBytes(packetNumber) { try! ChaChaPoly.Nonce(data: $0) }  // 12 bytes: always valid
    }

    /// Encrypts the frames at `body` in place with this direction's key and the
    /// packet number as nonce, authenticating `header`, and writes the 16-byte tag
    /// after them. Allocates (swift-crypto returns a new `Data`).
    public func seal(header: UnsafeRawBufferPointer, packetNumber: UInt64,
                     body: UnsafeMutableRawPointer, plaintextLength: Int) {
        let plaintext = UnsafeRawBufferPointer(start: body, count: plaintextLength)
        // ChaChaPoly.seal fails only for an invalid key or nonce size, which init rules out.
        let box = try! ChaChaPoly.seal(plaintext, using: sealKey, nonce: Self.nonce(packetNumber), authenticating: header)
        box.ciphertext.withUnsafeBytes { (body).copyMemory(from: $0.baseAddress!, byteCount: plaintextLength) }
        box.tag.withUnsafeBytes { (body + plaintextLength).copyMemory(from: $0.baseAddress!, byteCount: 16) }
    }

    /// Checks and decrypts `sealed` (ciphertext + tag) into `output` with the
    /// peer's direction key; the plaintext length, or nil when the tag does not
    /// verify (wrong key, altered bytes) or the datagram is shorter than a tag.
    public func open(header: UnsafeRawBufferPointer, packetNumber: UInt64,
                     sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) -> Int? {
        let length = sealed.count - 16
        guard length >= 0, let source = sealed.baseAddress else { return nil }
        let total = 12 + sealed.count
        if combined.count < total {
            combined.deallocate()
            combined = .allocate(byteCount: total, alignment: 8)
        }
        let buffer = combined.baseAddress!
        Self.withNonceBytes(packetNumber) { buffer.copyMemory(from: $0.baseAddress!, byteCount: 12) }
        // Safety: `combined` holds at least 12 + sealed.count bytes (grown above).
        (buffer + 12).copyMemory(from: source, byteCount: sealed.count)
        guard let box = try? ChaChaPoly.SealedBox(combined: UnsafeRawBufferPointer(start: buffer, count: total)),
              let plaintext = try? ChaChaPoly.open(box, using: openKey, authenticating: header) else { return nil }
        plaintext.withUnsafeBytes { if length > 0 { output.copyMemory(from: $0.baseAddress!, byteCount: length) } }
        return length
    }
}
