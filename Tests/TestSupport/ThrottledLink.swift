import Foundation
import CFeedReactor
import Reactor
import Synchronization

/// A veth pair whose root-namespace end is throttled by a tbf qdisc, its peer in
/// a network namespace made for one test (root only; `close()` deletes both).
/// Datagrams sit in the qdisc charged to the sending socket, so a small
/// SO_SNDBUF fills and sends say EAGAIN, as on a busy NIC. (On loopback they
/// never do: loopback_xmit orphans each skb at once.)
public final class ThrottledLink {
    public let namespace: String
    public let device: String
    public let subnet: String
    public var localAddress: String { "\(subnet).1" }
    public var peerAddress: String { "\(subnet).2" }
    /// Distinct names and subnets for links made by tests running in parallel.
    static let counter = Atomic<Int>(0)

    public init(rate: String = "20mbit") throws {
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        let id = "\(getpid() % 10_000)\(number)"
        namespace = "frtx-\(id)"
        device = "frtx\(id)"
        subnet = "10.78.\(number % 250)"
        do {
            try Self.run("ip", ["netns", "add", namespace])
            try Self.run("ip", ["link", "add", "name", device, "type", "veth", "peer", "name", "peer0", "netns", namespace])
            try Self.run("ip", ["addr", "add", "\(localAddress)/24", "dev", device])
            try Self.run("ip", ["link", "set", "dev", device, "up"])
            try Self.run("ip", ["-n", namespace, "addr", "add", "\(peerAddress)/24", "dev", "peer0"])
            try Self.run("ip", ["-n", namespace, "link", "set", "dev", "peer0", "up"])
            try Self.run("ip", ["-n", namespace, "link", "set", "dev", "lo", "up"])
            try Self.run("tc", ["qdisc", "add", "dev", device, "root", "tbf", "rate", rate, "burst", "4kb",
                                "limit", "1mb"])
        } catch {
            close()
            throw error
        }
    }

    /// A UDP socket made inside the namespace, bound to the peer address.
    public func peerSocket() throws -> UDPSocket {
        let path = "/var/run/netns/\(namespace)"
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let peer = peerAddress
        let thread = Thread {
            let rc = fr_netns_enter(path)
            box.result = rc == 0
                ? Result { try UDPSocket.bound(to: SocketAddress(peer, port: 0)) }
                : .failure(SystemError(call: "setns(\(path))", errno: -rc))
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.result!.get()
    }

    public func close() {
        _ = try? Self.run("ip", ["link", "del", device])
        _ = try? Self.run("ip", ["netns", "del", namespace])
    }

    final class ResultBox: @unchecked Sendable { var result: Result<UDPSocket, any Error>? }

    /// A command `run` started exited with a failure (its stderr in the text).
    public struct CommandFailed: Error, CustomStringConvertible { public let description: String }

    /// Runs `tool` (from /usr/sbin or /sbin) with `arguments`; throws with its stderr on failure.
    public static func run(_ tool: String, _ arguments: [String]) throws {
        let process = ChildProcess()
        let path = ["/usr/sbin/\(tool)", "/sbin/\(tool)"].first { FileManager.default.fileExists(atPath: $0) }
        process.executableURL = URL(fileURLWithPath: path ?? "/usr/sbin/\(tool)")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(description: "\(tool) \(arguments.joined(separator: " ")) failed: \(problem)")
        }
    }
}
