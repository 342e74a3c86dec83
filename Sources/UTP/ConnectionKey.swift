import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// The connection-table key: the peer's address and port and our receive
/// connection id. Plain integers, so hashing allocates nothing (SocketAddress's
/// own hash formats text).
struct ConnectionKey: Hashable {
    var high: UInt64
    var low: UInt64
    var port: UInt16
    var family: UInt16
    var receiveID: UInt16

    init(_ address: SocketAddress, receiveID: UInt16) {
        self.receiveID = receiveID
        var high: UInt64 = 0
        var low: UInt64 = 0
        var port: UInt16 = 0
        let family = UInt16(truncatingIfNeeded: address.family)
        address.withSockaddr { raw, length in
            port = raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
            if Int32(family) == AF_INET6 && length >= 24 {
                high = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                low = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            } else if length >= 8 {
                low = UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            }
        }
        self.high = high
        self.low = low
        self.port = port
        self.family = family
    }
}
