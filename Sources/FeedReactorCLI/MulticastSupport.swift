import Multicast
import Reactor

/// A socket bound to the group's port that has joined the group (and the source,
/// for SSM) on the given interface (an address, index or name).
func joinMulticast(group: SocketAddress, interface: String?, source: String? = nil,
                   receiveBuffer: Int? = nil, packetInfo: Bool = true) throws -> UDPSocket {
    let subscription = try Subscription(
        group: group.host, port: group.port, source: source,
        interface: try interface.map { (text) throws(MulticastError) -> MulticastInterface in try MulticastInterface(parsing: text) })
    let receiver = try MulticastReceiver(subscription, options: .init(receiveBufferBytes: receiveBuffer, packetInfo: packetInfo))
    return receiver.socket
}
