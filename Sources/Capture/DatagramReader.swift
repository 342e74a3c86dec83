/// The UDP datagrams of a capture, in file order: a `CaptureReader` plus a
/// `FrameDecoder` and a `FragmentReassembler`, with what was skipped counted.
///
/// ```swift
/// let file = try CaptureFile(path: "feed.pcap")
/// let datagrams = try DatagramReader(file.bytes)
/// while let datagram = try datagrams.next() where datagram.destinationPort == 41000 { ... }
/// print(datagrams.counters.summary)
/// ```
public final class DatagramReader {
    /// The record reader underneath (its `format` says pcap or pcapng).
    public private(set) var reader: CaptureReader
    /// Reassembles IPv4 fragments across records.
    public let reassembler: FragmentReassembler
    /// What was decoded, skipped or dropped so far, per reason.
    public private(set) var counters = DecodeCounters()

    /// A reader of the UDP datagrams in the capture `bytes` (pcap or pcapng), with
    /// fragments reassembled per `reassembly`. `bytes` must outlive the reader.
    ///
    /// - Throws: `CaptureError` when the file header is not pcap or pcapng.
    public init(_ bytes: UnsafeRawBufferPointer, reassembly: FragmentReassembler.Configuration = .init()) throws(CaptureError) {
        reader = try CaptureReader(bytes)
        reassembler = FragmentReassembler(reassembly)
    }

    /// Starts over at the first record (counters too), without allocating:
    /// `replay --loop` and benchmarks read a capture round and round.
    public func rewind() throws(CaptureError) {
        reader = try CaptureReader(reader.bytes)
        counters = DecodeCounters()
    }

    /// The next UDP datagram, or nil at the end. Its payload is valid until the
    /// next call (and while the bytes are).
    public func next() throws(CaptureError) -> CapturedDatagram? {
        while let record = try reader.next() {
            counters.frames &+= 1
            if case .datagram(let datagram) = FrameDecoder.decode(record, reassembler: reassembler, counters: &counters) {
                return datagram
            }
        }
        return nil
    }
}
