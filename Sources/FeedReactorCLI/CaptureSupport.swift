import Capture
import Multicast
import Reactor

/// The address bytes of a socket address (sin_addr at offset 4 of sockaddr_in,
/// sin6_addr at 8 of sockaddr_in6), as the capture module holds them.
func capturedAddress(_ address: SocketAddress) -> CapturedAddress {
    address.withSockaddr { raw, _ in
        // Safety: withSockaddr hands out a sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes).
        CapturedAddress(isIPv6: address.isIPv6, bytes: raw + (address.isIPv6 ? 8 : 4))
    }
}

/// `text` as an address for comparing with captured headers.
func capturedAddress(parsing text: String) throws -> CapturedAddress {
    capturedAddress(try IPAddress(text).socketAddress(port: 0))
}

/// Maps a capture file, naming the file in the error.
func openCapture(_ path: String) throws -> (CaptureFile, DatagramReader) {
    do {
        let file = try CaptureFile(path: path)
        return (file, try DatagramReader(file.bytes))
    } catch {
        throw CaptureFailure("\(path): \(error)")
    }
}

/// A capture problem reported to the user as it is (exit 1).
struct CaptureFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
