import Reactor

/// 224.0.0.0/4 or ff00::/8.
func isMulticast(_ address: SocketAddress) -> Bool {
    if let v4 = address.ipv4 { return v4 >> 28 == 0xE }
    return address.ipv6Bytes?.first == 0xFF
}

func joinMulticast(group: SocketAddress, interface: String?) throws -> UDPSocket {
    throw ReactorError.invalidArgument("multicast receive needs the Multicast module (not merged yet)")
}
