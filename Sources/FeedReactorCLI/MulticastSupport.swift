import Multicast
import Reactor

/// 224.0.0.0/4 or ff00::/8.
func isMulticast(_ address: SocketAddress) -> Bool {
    if let v4 = address.ipv4 { return v4 >> 28 == 0xE }
    return address.ipv6Bytes?.first == 0xFF
}

/// A socket bound to the group's port that has joined the group (and the source,
/// for SSM) on the given interface (an address, index or name). With
/// `timestamps` the kernel stamps each datagram (SO_TIMESTAMPNS, see `PacketInfo`).
func joinMulticast(group: SocketAddress, interface: String?, source: String? = nil,
                   receiveBuffer: Int? = nil, packetInfo: Bool = true, timestamps: Bool = false) throws -> UDPSocket {
    let subscription = try Subscription(
        group: group.host, port: group.port, source: source,
        interface: try interface.map { (text) throws(MulticastError) -> MulticastInterface in try MulticastInterface(parsing: text) })
    let receiver = try MulticastReceiver(subscription, options: .init(timestamps: timestamps, receiveBufferBytes: receiveBuffer, packetInfo: packetInfo))
    return receiver.socket
}
