import Foundation
import Testing
import TestSupport

/// `feedreactor listen` against `feedreactor publish` whose retransmission
/// server answers at most 14 messages per request (issue 18), 5% loss, a
/// 200,000-message session at 35,000 messages/s.
@Suite(.serialized) struct StingyPublishListenTests {
    typealias Run = PublishListenProcessTests.Run

    @Test(.enabled(if: PublishListenProcessTests.binaryExists, "needs the feedreactor executable (swift build)"))
    func listenRecoversEverythingFromAPublisherThatCapsItsAnswers() throws {
        let ports = PublishListenProcessTests()
        let port = try ports.freePort(), retransmit = try ports.freePort()
        let group = "239.255.63.\(port % 200 + 1)"
        let listen = try Run(["listen", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                              "--rerequest", "127.0.0.1:\(retransmit)", "--session", "CAP0000014",
                              "--until-end-of-session", "--timeout", "90", "--backend", "epoll", "--buffer-mb", "64"])
        #expect(listen.waitFor("listening", seconds: 20), "listen did not start: \(listen.errorText)")
        let publish = try Run(["publish", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                               "--session", "CAP0000014", "--messages", "200000", "--rate", "35000",
                               "--size", "8:48", "--retransmit-port", "\(retransmit)", "--drop", "0.05",
                               "--seed", "18", "--linger", "5", "--max-messages-per-answer", "14"])
        let listenStatus = listen.finish(seconds: 90)
        let publishStatus = publish.finish(seconds: 30)
        #expect(publishStatus == 0, "publish: \(publish.errorText)")
        #expect(listenStatus == 0, "listen: \(listen.errorText)")
        let summary = listen.errorText.split(separator: "\n").last ?? ""
        #expect(summary.contains("delivered=200000"), "\(summary)")
        #expect(summary.contains("unrecoverable=0 "), "\(summary)")
        #expect(summary.contains("missing=none"), "\(summary)")
        // The client learned the cap and asked in pieces of 14.
        #expect(summary.contains("server0_answer_cap=14") && summary.contains("server0_largest_answer=14"), "\(summary)")
    }
}
