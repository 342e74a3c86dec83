import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// The rate limit the retransmission side is configured with: the one GCRA
/// implementation, `Reactor.RateLimiter` (this name is kept for source
/// compatibility).
public typealias RateLimit = RateLimiter

/// A fixed-size table of recent requesters (address and port), each with its
/// own rate-limit bucket, for `RetransmissionServer`.
///
/// Four-way set associative: a requester hashes to one set of four entries; a
/// new one replaces the least recently seen entry of its set. Memory is fixed
/// at init, lookups are O(1), and a flood of new source addresses only
/// recycles entries (which is counted), it never grows the table.
final class RequesterTable {
    static let ways = 4
    let setMask: Int
    let limit: RateLimiter
    // Key per entry: family | port << 16 | IPv4 address or IPv6 scope << 32, then
    // the IPv6 address halves. Family 0 marks a free entry.
    let key0: UnsafeMutablePointer<UInt64>
    let key1: UnsafeMutablePointer<UInt64>
    let key2: UnsafeMutablePointer<UInt64>
    let arrival: UnsafeMutablePointer<UInt64>
    let lastSeen: UnsafeMutablePointer<UInt64>
    let capacity: Int
    /// Entries taken over from another requester because the set was full.
    private(set) var evictions: UInt64 = 0

    /// - Parameter capacity: the most requesters tracked (rounded up to a
    ///   power of two, at least 4).
    init(capacity: Int, limit: RateLimiter) {
        var size = Self.ways
        while size < capacity { size <<= 1 }
        self.capacity = size
        setMask = size / Self.ways - 1
        self.limit = limit
        key0 = .allocate(filledWith: 0, count: size)
        key1 = .allocate(filledWith: 0, count: size)
        key2 = .allocate(filledWith: 0, count: size)
        arrival = .allocate(filledWith: 0, count: size)
        lastSeen = .allocate(filledWith: 0, count: size)
    }

    deinit {
        key0.deallocate()
        key1.deallocate()
        key2.deallocate()
        arrival.deallocate()
        lastSeen.deallocate()
    }

    enum Admission { case admitted, limited, unknownAddress }

    /// Charges one request to the requester at the raw sockaddr `source`.
    func admit(source: UnsafeRawBufferPointer, now: UInt64) -> Admission {
        guard let (k0, k1, k2) = Self.key(source) else { return .unknownAddress }
        let mixed = (k0 ^ (k1 &* 0x9E37_79B9_7F4A_7C15) ^ (k2 &* 0xC2B2_AE3D_27D4_EB4F)) &* 0xFF51_AFD7_ED55_8CCD
        let base = (Int(truncatingIfNeeded: mixed >> 32) & setMask) * Self.ways
        var victim = base
        for entry in base..<(base + Self.ways) {
            if key0[entry] == k0 && key1[entry] == k1 && key2[entry] == k2 {
                lastSeen[entry] = now
                return limit.admit(&arrival[entry], now: now) ? .admitted : .limited
            }
            if key0[entry] == 0 {
                victim = entry
            } else if key0[victim] != 0 && lastSeen[entry] < lastSeen[victim] {
                victim = entry
            }
        }
        if key0[victim] != 0 { evictions &+= 1 }
        key0[victim] = k0
        key1[victim] = k1
        key2[victim] = k2
        lastSeen[victim] = now
        arrival[victim] = 0
        return limit.admit(&arrival[victim], now: now) ? .admitted : .limited
    }

    /// The table key of a sockaddr_in / sockaddr_in6 (Linux layout: family u16 at
    /// 0, port at 2; IPv4 address at 4; IPv6 address at 8..<24, scope id at 24).
    static func key(_ source: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64)? {
        guard let raw = source.baseAddress, source.count >= 8 else { return nil }
        // Safety: at least 8 bytes checked; the IPv6 branch checks 28.
        let family = raw.loadUnaligned(as: UInt16.self)
        let port = UInt64(raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        switch Int32(family) {
        case AF_INET:
            let address = UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            return (UInt64(family) | port << 16 | address << 32, 0, 0)
        case AF_INET6 where source.count >= 28:
            let scope = UInt64(raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
            return (UInt64(family) | port << 16 | scope << 32,
                    raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        default:
            return nil
        }
    }
}
