/// Rebuilds IPv4 datagrams from their fragments (RFC 791 §3.2, "Fragmentation
/// and reassembly"; RFC 815 for the bookkeeping) in a table of fixed size,
/// allocated once. Time is the capture's, passed in: a partial datagram older
/// than `timeout` is dropped and counted (Linux's default, net.ipv4.ipfrag_time,
/// is 30 s). When the table is full the oldest partial datagram is dropped.
///
/// ```swift
/// let table = FragmentReassembler()
/// if let whole = table.add(key, offset: 0, moreFragments: true, bytes: part, now: t, counters: &c) { ... }
/// ```
public final class FragmentReassembler {
    /// Identifies one datagram's fragments (RFC 791: source, destination, protocol, identification).
    public struct Key: Hashable, Sendable {
        /// The IPv4 source address, as read from the header (network order).
        public var source: UInt32
        /// The IPv4 destination address, as read from the header (network order).
        public var destination: UInt32
        /// The IPv4 identification field.
        public var identification: UInt16
        /// The IPv4 protocol number (17 for UDP).
        public var protocolNumber: UInt8
        /// The key of one datagram's fragments; each argument is the header field of the same name.
        public init(source: UInt32, destination: UInt32, identification: UInt16, protocolNumber: UInt8) {
            self.source = source
            self.destination = destination
            self.identification = identification
            self.protocolNumber = protocolNumber
        }
    }

    /// How many partial datagrams are held and for how long.
    public struct Configuration: Sendable {
        /// Partial datagrams held at once.
        public var capacity: Int = 64
        /// Capture-time nanoseconds a partial datagram may wait for its other fragments.
        public var timeout: UInt64 = 30_000_000_000
        /// A configuration holding `capacity` partial datagrams for up to `timeout`
        /// nanoseconds of capture time each.
        public init(capacity: Int = 64, timeout: UInt64 = 30_000_000_000) {
            self.capacity = capacity
            self.timeout = timeout
        }
    }

    /// The largest IPv4 payload: a 65,535-byte datagram less a 20-byte header.
    public static let maximumPayload = 65_515
    static let unitsPerSlot = (maximumPayload + 7) / 8
    static let wordsPerSlot = (unitsPerSlot + 63) / 64

    /// The configuration the reassembler was made with.
    public let configuration: Configuration
    let buffers: UnsafeMutableRawPointer
    let bitmaps: UnsafeMutablePointer<UInt64>
    var keys: [Key]
    var inUse: [Bool]
    var firstSeen: [UInt64]
    /// Payload length once the last fragment (MF clear) arrived; -1 before.
    var totalLength: [Int]
    var unitsFilled: [Int]

    /// A reassembler with `configuration.capacity` slots of 64 KiB each, allocated
    /// here, once.
    public init(_ configuration: Configuration = Configuration()) {
        precondition(configuration.capacity >= 1, "a reassembler needs at least one slot")
        self.configuration = configuration
        let capacity = configuration.capacity
        buffers = .allocate(byteCount: capacity * Self.maximumPayload, alignment: 8)
        bitmaps = .allocate(capacity: capacity * Self.wordsPerSlot)
        bitmaps.initialize(repeating: 0, count: capacity * Self.wordsPerSlot)
        keys = Array(repeating: Key(source: 0, destination: 0, identification: 0, protocolNumber: 0), count: capacity)
        inUse = Array(repeating: false, count: capacity)
        firstSeen = Array(repeating: 0, count: capacity)
        totalLength = Array(repeating: -1, count: capacity)
        unitsFilled = Array(repeating: 0, count: capacity)
    }

    deinit {
        buffers.deallocate()
        bitmaps.deallocate()
    }

    /// Partial datagrams held now.
    public var pending: Int { inUse.lazy.filter { $0 }.count }

    /// Adds one fragment (`offset` in bytes, from the fragment-offset field × 8).
    /// Returns the whole IP payload once the last missing piece arrived: a view
    /// into the table, valid until the next call.
    public func add(_ key: Key, offset: Int, moreFragments: Bool, bytes: UnsafeRawBufferPointer, now: UInt64,
                    counters: inout DecodeCounters) -> UnsafeRawBufferPointer? {
        expire(now: now, counters: &counters)
        let end = offset + bytes.count
        // Every fragment but the last carries a multiple of 8 bytes (RFC 791 §3.2).
        guard end <= Self.maximumPayload, moreFragments ? bytes.count % 8 == 0 && !bytes.isEmpty : true else {
            counters.badFragments &+= 1
            return nil
        }
        let slot = slot(for: key, now: now, counters: &counters)
        if moreFragments {
            if totalLength[slot] >= 0 && end > totalLength[slot] { return drop(slot, counters: &counters) }
        } else {
            if totalLength[slot] >= 0 && totalLength[slot] != end { return drop(slot, counters: &counters) }
            if highestUnit(slot) > (end + 7) / 8 { return drop(slot, counters: &counters) }
            totalLength[slot] = end
        }
        // Safety: end <= maximumPayload, the slot's size.
        if let base = bytes.baseAddress, !bytes.isEmpty {
            (buffers + slot * Self.maximumPayload + offset).copyMemory(from: base, byteCount: bytes.count)
        }
        let words = bitmaps + slot * Self.wordsPerSlot
        var unit = offset / 8
        let lastUnit = (end + 7) / 8
        while unit < lastUnit {
            let bit = UInt64(1) << UInt64(unit & 63)
            if words[unit >> 6] & bit == 0 {
                words[unit >> 6] |= bit
                unitsFilled[slot] += 1
            }
            unit += 1
        }
        counters.fragmentsHeld &+= 1
        let total = totalLength[slot]
        guard total >= 0, unitsFilled[slot] == (total + 7) / 8 else { return nil }
        release(slot)
        counters.reassembled &+= 1
        return UnsafeRawBufferPointer(start: buffers + slot * Self.maximumPayload, count: total)
    }

    /// Index past the highest unit received (0 when none).
    func highestUnit(_ slot: Int) -> Int {
        let words = bitmaps + slot * Self.wordsPerSlot
        var word = Self.wordsPerSlot - 1
        while word >= 0 {
            if words[word] != 0 { return word * 64 + 64 - words[word].leadingZeroBitCount }
            word -= 1
        }
        return 0
    }

    func slot(for key: Key, now: UInt64, counters: inout DecodeCounters) -> Int {
        var free = -1
        var oldest = -1
        for index in 0..<configuration.capacity {
            if inUse[index] {
                if keys[index] == key { return index }
                if oldest < 0 || firstSeen[index] < firstSeen[oldest] { oldest = index }
            } else if free < 0 {
                free = index
            }
        }
        if free < 0 {
            counters.reassemblyEvictions &+= 1
            release(oldest)
            free = oldest
        }
        inUse[free] = true
        keys[free] = key
        firstSeen[free] = now
        return free
    }

    func drop(_ slot: Int, counters: inout DecodeCounters) -> UnsafeRawBufferPointer? {
        counters.badFragments &+= 1
        release(slot)
        return nil
    }

    func release(_ slot: Int) {
        inUse[slot] = false
        totalLength[slot] = -1
        unitsFilled[slot] = 0
        (bitmaps + slot * Self.wordsPerSlot).update(repeating: 0, count: Self.wordsPerSlot)
    }

    /// Drops partial datagrams older than the timeout. Capture time can go
    /// backwards (merged files); an entry "from the future" is left alone.
    public func expire(now: UInt64, counters: inout DecodeCounters) {
        for index in 0..<configuration.capacity where inUse[index] {
            if now > firstSeen[index] && now - firstSeen[index] > configuration.timeout {
                counters.reassemblyTimeouts &+= 1
                release(index)
            }
        }
    }
}
