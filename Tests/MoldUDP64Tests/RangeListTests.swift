import Testing
@testable import MoldUDP64

@Suite struct RangeListTests {
    @Test func mergesTouchingRangesAndNamesSingles() {
        var list = RangeList(limit: 8)
        list.append(101..<201)
        list.append(201..<301)
        list.append(400..<401)
        list.append(350..<420)      // overlaps what was appended: only 401..<420 is new
        #expect(list.ranges == [101..<301, 400..<420])
        #expect(list.description == "101-300, 400-419")
        #expect(list.summaryValue == "101-300,400-419")
        #expect(list.messageCount == 220)
    }

    @Test func countsTheRestInsteadOfCuttingSilently() {
        var list = RangeList(limit: 2)
        for index in 0..<414 as Range<UInt64> { list.append((index * 100_000 + 1)..<(index * 100_000 + 10_001)) }
        #expect(list.ranges.count == 2)
        #expect(list.rangeCount == 414)
        #expect(list.moreRanges == 412 && list.moreMessages == 4_120_000)
        #expect(list.description.hasSuffix("… and 412 more ranges, 4,120,000 messages"))
        // A range touching the last counted one merges into the count.
        list.append((413 * 100_000 + 10_001)..<(413 * 100_000 + 10_002))
        #expect(list.moreRanges == 412 && list.moreMessages == 4_120_001)
    }

    @Test func appendsAnotherList() {
        var lost = RangeList(limit: 3)
        lost.append(1..<5)
        var missing = RangeList(limit: 3)
        missing.append(5..<9)
        missing.append(20..<21)
        lost.append(contentsOf: missing)
        #expect(lost.ranges == [1..<9, 20..<21])
        #expect(RangeList().description == "none")
    }
}
