import Testing
import MoldUDP64

@Suite struct RetransmissionStoreTests {
    func append(_ store: RetransmissionStore, length: Int) -> UInt64 {
        let message = testMessage(store.nextSequenceNumber, length: length)
        return message.withUnsafeBytes { store.append($0) }
    }

    func held(_ store: RetransmissionStore, _ sequence: UInt64) -> [UInt8]? {
        store.message(sequence).map { Array($0) }
    }

    @Test func looksUpBySequenceNumber() {
        let store = RetransmissionStore(messageCapacity: 16, byteCapacity: 65_535, firstSequenceNumber: 100)
        for length in [0, 1, 50, 7] { _ = append(store, length: length) }
        #expect(store.firstSequenceNumber == 100 && store.nextSequenceNumber == 104 && store.count == 4)
        #expect(held(store, 100) == [])
        #expect(held(store, 102) == testMessage(102, length: 50))
        #expect(held(store, 103) == testMessage(103, length: 7))
        #expect(held(store, 99) == nil && held(store, 104) == nil)
        #expect(store.bytesInUse == 58)
    }

    @Test func prefaultsOnlyAnEmptyStore() {
        let store = RetransmissionStore(messageCapacity: 16, byteCapacity: 65_535)
        #expect(store.prefault())
        _ = append(store, length: 50)
        _ = append(store, length: 7)
        // Messages held: nothing is written, both read back whole.
        #expect(!store.prefault())
        #expect(held(store, 1) == testMessage(1, length: 50))
        #expect(held(store, 2) == testMessage(2, length: 7))
        store.reset(nextSequenceNumber: 3)
        #expect(store.prefault())
        _ = append(store, length: 20)
        #expect(held(store, 3) == testMessage(3, length: 20) && store.count == 1)
    }

    @Test func evictsByMessageCount() {
        let store = RetransmissionStore(messageCapacity: 3, byteCapacity: 65_535)
        #expect(store.messageCapacity == 4)   // rounded up to a power of two
        for _ in 1...10 { _ = append(store, length: 10) }
        #expect(store.firstSequenceNumber == 7 && store.count == 4)
        #expect(store.counters.evictedMessages == 6)
        #expect(held(store, 6) == nil)
        for sequence in UInt64(7)...10 { #expect(held(store, sequence) == testMessage(sequence, length: 10)) }
    }

    @Test func evictsByBytesAndWrapsWithoutTearingMessages() {
        let store = RetransmissionStore(messageCapacity: 1024, byteCapacity: 100_000)
        // 30,000-byte messages: three fit; the fourth does not fit the ring's tail
        // (90,000 + 30,000 > 100,000) so it starts over at 0, evicting message 1.
        for _ in 1...4 { _ = append(store, length: 30_000) }
        #expect(store.firstSequenceNumber == 2 && store.count == 3)
        #expect(store.bytesInUse <= store.byteCapacity)
        for sequence in UInt64(2)...4 { #expect(held(store, sequence) == testMessage(sequence, length: 30_000)) }
        // A message as large as a block allows still fits, evicting what it must.
        _ = append(store, length: 65_535)
        #expect(held(store, 5) == testMessage(5, length: 65_535))
        #expect(store.bytesInUse <= store.byteCapacity)
    }

    @Test func randomTrafficMatchesAReferenceModel() {
        let store = RetransmissionStore(messageCapacity: 64, byteCapacity: 70_000)
        var random = SeededRandom(seed: 7)
        var reference: [UInt64: [UInt8]] = [:]
        for _ in 0..<1_500 {
            let length = random.next() % 8 == 0 ? Int(random.next() % 20_000) : Int(random.next() % 200)
            let message = testMessage(store.nextSequenceNumber, length: length)
            let sequence = message.withUnsafeBytes { store.append($0) }
            reference[sequence] = message
            #expect(store.bytesInUse <= store.byteCapacity)
            #expect(store.count <= store.messageCapacity)
            // Every held message is intact; nothing newer than the oldest held is missing.
            let probe = store.firstSequenceNumber + random.next() % UInt64(store.count)
            #expect(held(store, probe) == reference[probe])
        }
        for sequence in store.firstSequenceNumber..<store.nextSequenceNumber {
            #expect(held(store, sequence) == reference[sequence])
        }
    }

    @Test func clampsRequestsToWhatIsHeldAndCountsTheRest() {
        let store = RetransmissionStore(messageCapacity: 4, byteCapacity: 65_535)
        for _ in 1...10 { _ = append(store, length: 5) }   // holds 7...10
        #expect(store.available(from: 8, count: 2) == 8..<10)
        #expect(store.available(from: 9, count: 100) == 9..<11)
        #expect(store.counters.evictedMessages == 6)
        #expect(store.counters.requestsForEvicted == 0 && store.counters.requestsForFuture == 0)
        // Reaching back past the oldest: answered from the oldest.
        #expect(store.available(from: 5, count: 3) == 7..<8)
        // Wholly evicted: nothing.
        #expect(store.available(from: 1, count: 3).isEmpty)
        #expect(store.counters.requestsForEvicted == 2)
        // Not sent yet, up to the largest sequence number: nothing, no overflow.
        #expect(store.available(from: 11, count: 1).isEmpty)
        #expect(store.available(from: .max, count: 0xFFFF).isEmpty)
        #expect(store.available(from: 10, count: .max) == 10..<11)
        #expect(store.counters.requestsForFuture == 2)
    }
}

/// SplitMix64: a seeded generator so failures repeat.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
