/// One captured frame: a view into the capture's bytes (nothing is copied),
/// valid while the reader's bytes are.
public struct CaptureRecord {
    /// Capture time in nanoseconds since the Unix epoch (converted from the
    /// file's resolution: pcap micro/nanoseconds, pcapng `if_tsresol`).
    public let timestamp: UInt64
    /// The link-layer header the frame starts with.
    public let linkType: LinkType
    /// The captured bytes (possibly fewer than the frame had: see `originalLength`).
    public let bytes: UnsafeRawBufferPointer
    /// The frame's length on the wire; larger than `bytes.count` when the snap
    /// length cut it.
    public let originalLength: Int

    /// A record of `linkType` captured at `timestamp` (nanoseconds since the Unix
    /// epoch); `bytes` is a view that must outlive the record.
    public init(timestamp: UInt64, linkType: LinkType, bytes: UnsafeRawBufferPointer, originalLength: Int) {
        self.timestamp = timestamp
        self.linkType = linkType
        self.bytes = bytes
        self.originalLength = originalLength
    }

    /// The snap length cut this frame short.
    public var isCut: Bool { originalLength > bytes.count }
}
