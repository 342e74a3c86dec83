/// The fixed-width ASCII fields of SoupBinTCP 3.00 (section 1.2, "Data Types"):
/// alpha fields are space padded, numeric fields are decimal digits padded on
/// the left with spaces. Login Accepted's session is left padded too (2.2.1);
/// username and password are left-justified (2.3.1). Readers accept either
/// padding and trim spaces on both sides, as deployed peers differ.
public enum SoupFields {
    /// Bytes of the Login Request's username field (2.3.1).
    public static let usernameLength = 6
    /// Bytes of the Login Request's password field (2.3.1).
    public static let passwordLength = 10
    /// Bytes of a session field (Login Request, Login Accepted).
    public static let sessionLength = 10
    /// Bytes of a sequence number field (Login Request, Login Accepted).
    public static let sequenceLength = 20

    /// Writes `text` into `count` bytes at `pointer`, space padded on the left
    /// (`rightJustified`) or on the right; text longer than the field is cut.
    @inlinable
    public static func writeAlpha(_ text: UnsafeRawBufferPointer, count: Int, rightJustified: Bool,
                                  to pointer: UnsafeMutableRawPointer) {
        let used = min(text.count, count)
        // Safety: the caller guarantees `count` writable bytes at pointer.
        pointer.initializeMemory(as: UInt8.self, repeating: 0x20, count: count)
        guard used > 0, let base = text.baseAddress else { return }
        (pointer + (rightJustified ? count - used : 0)).copyMemory(from: base, byteCount: used)
    }

    /// Writes `value` as decimal ASCII into 20 bytes, left padded with spaces.
    @inlinable
    public static func writeSequence(_ value: UInt64, to pointer: UnsafeMutableRawPointer) {
        // Safety: the caller guarantees 20 writable bytes; UInt64.max has 20 digits.
        pointer.initializeMemory(as: UInt8.self, repeating: 0x20, count: sequenceLength)
        var remaining = value
        var index = sequenceLength - 1
        repeat {
            pointer.storeBytes(of: UInt8(0x30 + remaining % 10), toByteOffset: index, as: UInt8.self)
            remaining /= 10
            index -= 1
        } while remaining > 0 && index >= 0
    }

    /// Reads a numeric field: digits with spaces around them. Nil for anything
    /// else (an embedded space, a sign, a value above 2^64-1); all spaces read as 0.
    @inlinable
    public static func readNumber(_ field: UnsafeRawBufferPointer) -> UInt64? {
        var value: UInt64 = 0
        var seenDigit = false
        var seenTrailingSpace = false
        for byte in field {
            if byte == 0x20 {
                if seenDigit { seenTrailingSpace = true }
                continue
            }
            guard byte >= 0x30 && byte <= 0x39, !seenTrailingSpace else { return nil }
            seenDigit = true
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - 0x30))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// The field without its padding spaces (no copy).
    @inlinable
    public static func trimmed(_ field: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = field.count
        while start < end && field[start] == 0x20 { start += 1 }
        while end > start && field[end - 1] == 0x20 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: field[start..<end])
    }

    /// True when both fields hold the same text once padding is trimmed.
    public static func sameText(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let x = trimmed(a)
        let y = trimmed(b)
        return x.count == y.count && x.elementsEqual(y)
    }
}
