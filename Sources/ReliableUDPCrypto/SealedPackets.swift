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
/// new `Data` (its API has no seal-into-caller's-buffer form), so a protected
/// packet costs allocations on each seal and open; the allocation gates cover
/// the unprotected path.
///
/// ```swift
/// let key = try SealedPackets.readKey(path: "/etc/rudp.key")
/// connection.protection = try SealedPackets(preSharedKey: key, isInitiator: true)
/// ```
public final class SealedPackets: PacketProtection {
    let sealKey: SymmetricKey
    let openKey: SymmetricKey

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
    }

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

    static func nonce(_ packetNumber: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: packetNumber >> (56 - 8 * UInt64(index))) }
        return try! ChaChaPoly.Nonce(data: bytes)  // 12 bytes: always valid
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
        guard length >= 0 else { return nil }
        guard let box = try? ChaChaPoly.SealedBox(nonce: Self.nonce(packetNumber),
                                                  ciphertext: UnsafeRawBufferPointer(rebasing: sealed[0..<length]),
                                                  tag: UnsafeRawBufferPointer(rebasing: sealed[length...])),
              let plaintext = try? ChaChaPoly.open(box, using: openKey, authenticating: header) else { return nil }
        plaintext.withUnsafeBytes { if length > 0 { output.copyMemory(from: $0.baseAddress!, byteCount: length) } }
        return length
    }
}
