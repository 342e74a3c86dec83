import Multicast
import Reactor

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
