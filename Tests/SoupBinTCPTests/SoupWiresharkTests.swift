import Foundation
import MoldUDP64
import Reactor
import SoupBinTCP
import Testing
import TestSupport

/// tshark's own SoupBinTCP dissector reads what the wiring puts on the wire:
/// a rejected login, then a login, replay, live data, heartbeats both ways,
/// unsequenced and debug packets, and End of Session, captured on lo.
@Suite(.serialized) struct SoupWiresharkTests {
    @Test(.enabled(if: WiresharkCapture.tshark != nil && TestEnvironment.isRoot,
                   "needs tshark and root to capture on lo (CI installs tshark and runs as root)"))
    func tsharkDecodesLoginReplayAndLiveWithoutMalformedPackets() throws {
        let reactor = try Reactor(backend: .epoll)
        let store = RetransmissionStore(messageCapacity: 4096)
        append(store, through: 200)
        let configuration = SoupServer.Configuration(session: "WIRE000001",
                                                     credentials: try Credentials([(username: "feed", password: "secret")]),
                                                     heartbeatInterval: 20_000_000)
        let server = try SoupServer(configuration: configuration, store: store)
        let soup = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        let port = soup.localAddress.port
        let capture = try WiresharkCapture(ports: [port], options: ["-F", "pcap"], transport: "tcp")

        // A wrong password: Login Rejected `A`.
        let wrong = try SoupTCPClient(client: SoupClient(configuration: .init(username: "feed", password: "guess"),
                                                         consumer: Recorder()),
                                      server: soup.localAddress, reactor: reactor, configuration: fastClient)
        try pump(reactor) { wrong.isFinished && soup.connectionCount == 0 }

        // Login at 1: replay of 200, then 100 live, heartbeats both ways while idle.
        let recorder = Recorder()
        let client = try SoupClient(configuration: .init(username: "feed", password: "secret", firstSequence: 1,
                                                         heartbeatInterval: 20_000_000), consumer: recorder)
        let tcp = try SoupTCPClient(client: client, server: soup.localAddress, reactor: reactor, configuration: fastClient)
        try pump(reactor) { recorder.messages.count == 200 }
        append(store, through: 300)
        try pump(reactor) { recorder.messages.count == 300 }
        try pump(reactor) { server.counters.heartbeatsSent >= 2 && client.counters.heartbeatsSent >= 2 }
        // Unsequenced Data and Debug from a raw client that logged in too.
        let raw = CollectingStream()
        raw.onConnected = { token, reactor in
            reactor.write(token, loginBytes(user: "feed", password: "secret", sequence: 0)
                          + [0, 6, 0x55] + Array("order".utf8) + [0, 6, 0x2B] + Array("hello".utf8) + [0, 1, 0x4F])
        }
        try reactor.connect(to: soup.localAddress, handler: raw)
        try pump(reactor) { raw.isClosed && server.counters.unsequencedReceived == 1 }
        soup.endSession(now: reactor.now)
        try pump(reactor) { tcp.isFinished && soup.connectionCount == 0 }
        #expect(tcp.outcome == .endOfSession)

        // Three connections, each closed both ways (tshark writes its summaries
        // behind the traffic, later still on a loaded machine).
        let file = try capture.finish { summary in
            summary.components(separatedBy: "FIN").count + summary.components(separatedBy: "RST").count - 2 >= 6
        }
        let decode = ["tcp.port==\(port),soupbintcp"]
        let malformed = try WiresharkCapture.dissect(file, decodeAs: decode, filter: "_ws.malformed || _ws.expert.severity >= 8388608",
                                                     fields: ["frame.number"])
        #expect(malformed.isEmpty, "malformed or error frames: \(malformed)")
        let rows = try WiresharkCapture.dissect(file, decodeAs: decode, filter: "soupbintcp",
                                                fields: ["soupbintcp.packet_type", "soupbintcp.reject_code", "soupbintcp.session"])
        var types: [String: Int] = [:]
        var rejectCodes = Set<String>()
        var sessions = Set<String>()
        // tshark prints FT_CHAR fields quoted: 'L'.
        func unquoted(_ text: Substring) -> String { String(text).trimmingCharacters(in: CharacterSet(charactersIn: "' ")) }
        for row in rows {
            let columns = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            for type in columns[0].split(separator: ",") { types[unquoted(type), default: 0] += 1 }
            if columns.count > 1 { columns[1].split(separator: ",").forEach { rejectCodes.insert(unquoted($0)) } }
            if columns.count > 2 { columns[2].split(separator: ",").forEach { sessions.insert(unquoted($0)) } }
        }
        for type in ["L", "J", "A", "S", "H", "R", "U", "+", "O", "Z"] {
            #expect(types[type, default: 0] > 0, "no \(type) packet decoded: \(types)")
        }
        #expect(types["S", default: 0] == 300, "every Sequenced Data packet decoded once: \(types)")
        #expect(types["L"] == 3 && types["J"] == 1 && types["Z"] == 1, "\(types)")
        #expect(rejectCodes.contains("A"), "\(rejectCodes)")
        #expect(sessions.contains("WIRE000001"), "\(sessions)")
    }
}
