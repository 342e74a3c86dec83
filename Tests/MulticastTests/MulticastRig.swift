import Foundation
import CFeedReactor
import Multicast
import Reactor
import TestSupport

/// Records what a multicast receiver gets: payload, pktinfo metadata, source and
/// which subscription matched. (Copies per datagram: test code, not the hot path.)
final class MulticastRecorder: DatagramHandler {
    struct Entry {
        let payload: [UInt8]
        let destination: IPAddress?
        let interfaceIndex: UInt32?
        let source: IPAddress?
        let kernelTimestamp: UInt64?
        let subscriptionIndex: Int?
    }

    let receiver: MulticastReceiver
    var entries: [Entry] = []
    var errors: [any Error] = []

    init(_ receiver: MulticastReceiver) { self.receiver = receiver }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        for datagram in batch {
            let info = datagram.packetInfo
            entries.append(Entry(payload: Array(datagram.bytes), destination: info.destination,
                                 interfaceIndex: info.interfaceIndex, source: datagram.sourceIP,
                                 kernelTimestamp: info.kernelTimestamp,
                                 subscriptionIndex: receiver.subscriptionIndex(of: datagram)))
        }
    }

    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors.append(error) }

    func contains(_ payload: [UInt8]) -> Bool { entries.contains { $0.payload == payload } }
}

/// Sends `payload` once per duty cycle until `condition` holds or `attempts` pass:
/// a freshly created link may drop the first datagrams while it comes up, and
/// waiting on the reactor (not sleeping) is how tests synchronise.
func send(_ payload: [UInt8], with sender: MulticastSender, on reactor: Reactor, attempts: Int = 200,
          until condition: () -> Bool) throws {
    var attempt = 0
    while !condition() && attempt < attempts {
        do {
            try sender.send(payload)
        } catch {
            // The link, or its IPv6 route or source address (duplicate address
            // detection), is not up yet: try again next attempt.
            guard error.errno == ENETUNREACH || error.errno == EADDRNOTAVAIL else { throw error }
        }
        // A few cycles per attempt; the caller checks `condition` afterwards.
        for _ in 0..<5 where !condition() { _ = try reactor.runOnce(timeout: 10_000_000) }
        attempt += 1
    }
}

/// Carries a closure and its result to and from a namespace thread, which runs
/// while the test thread waits (so nothing is shared concurrently).
final class ThreadBox<T>: @unchecked Sendable {
    var body: (() throws -> T)?
    var result: Result<T, any Error>?
}

/// Two network namespaces joined by a veth pair, created for one test and deleted
/// when it ends (`close()`, called from `defer`). Namespace A holds `va`, B holds
/// `vb`; both have IPv4 10.77.0.x/24, IPv6 ULA fd77::x/64 and a fixed link-local
/// fe80::x, all added `nodad` so they are usable at once (no DAD wait). A also
/// has 10.77.0.3, fd77::3 and fe80::3 as second, unwanted SSM sources.
final class NamespacePair {
    let a: String
    let b: String
    nonisolated(unsafe) static var counter = 0

    init() throws {
        NamespacePair.counter += 1
        let base = "frmc-\(getpid())-\(NamespacePair.counter)"
        a = base + "-a"
        b = base + "-b"
        do {
            try Self.ip(["netns", "add", a])
            try Self.ip(["netns", "add", b])
            try Self.ip(["link", "add", "name", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b])
            try Self.ip(["-n", a, "-batch", "-"], input: Self.setup(device: "va", host: 1, extra: 3))
            try Self.ip(["-n", b, "-batch", "-"], input: Self.setup(device: "vb", host: 2, extra: nil))
        } catch {
            close()
            throw error
        }
    }

    static func setup(device: String, host: Int, extra: Int?) -> String {
        var lines = [
            "link set dev lo up",
            // No kernel-generated link-local (it would run DAD); ours is nodad.
            "link set dev \(device) addrgenmode none",
            "addr add 10.77.0.\(host)/24 dev \(device)",
            "addr add fd77::\(host)/64 dev \(device) nodad",
            "addr add fe80::\(host)/64 dev \(device) nodad",
        ]
        if let extra {
            lines.append("addr add 10.77.0.\(extra)/24 dev \(device)")
            lines.append("addr add fd77::\(extra)/64 dev \(device) nodad")
            lines.append("addr add fe80::\(extra)/64 dev \(device) nodad")
        }
        lines.append("link set dev \(device) up")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs `body` on a fresh thread that entered namespace `name` (setns(2)); sockets
    /// made there stay in that namespace whichever thread uses them later.
    func run<T>(in name: String, _ body: @escaping () throws -> T) throws -> T {
        let box = ThreadBox<T>()
        box.body = body
        let done = DispatchSemaphore(value: 0)
        let path = "/var/run/netns/\(name)"
        let thread = Thread {
            let rc = fr_netns_enter(path)
            if rc == 0 {
                box.result = Result { try box.body!() }
            } else {
                box.result = .failure(SystemError(call: "setns(\(path))", errno: -rc))
            }
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.result!.get()
    }

    func close() {
        // Deleting a namespace destroys the veth end inside it (and so its peer).
        _ = try? Self.ip(["netns", "del", a])
        _ = try? Self.ip(["netns", "del", b])
    }

    struct CommandFailed: Error, CustomStringConvertible {
        let description: String
    }

    @discardableResult
    static func ip(_ arguments: [String], input: String? = nil) throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.fileExists(atPath: "/usr/sbin/ip") { process.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let stdin = Pipe()
        if input != nil { process.standardInput = stdin }
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(description: "ip \(arguments.joined(separator: " ")) failed: \(problem)")
        }
        return text
    }
}

/// A receiver joined to some subscriptions and registered with a recorder.
typealias Listener = (receiver: MulticastReceiver, recorder: MulticastRecorder, token: Token)

/// A receiver joined to `subscriptions`: the first makes it (binding its port;
/// 0 lets the kernel pick), the rest are joined on the same socket.
func joinedReceiver(_ subscriptions: [Subscription], options: MulticastReceiver.Options = .init()) throws -> MulticastReceiver {
    let receiver = try MulticastReceiver(subscriptions[0], options: options)
    for subscription in subscriptions.dropFirst() { try receiver.join(subscription) }
    return receiver
}

/// Registers a receiver with a recorder. Call it on the reactor's own thread:
/// io_uring rings are set up single-issuer and refuse (EEXIST) submissions from
/// any other thread, such as a namespace thread.
func listen(on reactor: Reactor, with receiver: MulticastReceiver) throws -> Listener {
    let recorder = MulticastRecorder(receiver)
    let token = try receiver.register(with: reactor, handler: recorder)
    return (receiver, recorder, token)
}

func listen(on reactor: Reactor, to subscriptions: [Subscription],
            options: MulticastReceiver.Options = .init()) throws -> Listener {
    try listen(on: reactor, with: joinedReceiver(subscriptions, options: options))
}
