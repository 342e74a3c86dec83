import ArgumentParser
import CFeedReactor
import Reactor

@main
struct FeedReactorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedreactor",
        abstract: "A single-threaded UDP reactor for market-data feeds: MoldUDP64, multicast, benchmarks.",
        subcommands: [
            Demo.self, Listen.self, Publish.self, RxBench.self, TxBench.self, LatencyBench.self, PollCost.self,
            Record.self, Replay.self, UTPCat.self, RudpEcho.self, RudpBench.self, GroupBench.self, TCPBench.self,
            SoupClientCommand.self, SoupBench.self, SoupRecoveryBench.self,
        ]
    )
}

/// `--backend auto|epoll|uring`
extension BackendKind: ExpressibleByArgument {}

/// `--idle block|spin|yield|backoff`
struct IdleOption: ExpressibleByArgument {
    let strategy: IdleStrategy
    init?(argument: String) {
        guard let strategy = IdleStrategy(name: argument) else { return nil }
        self.strategy = strategy
    }
    static var allValueStrings: [String] { ["block", "spin", "yield", "backoff"] }
}

/// Lines for the user go to stderr; stdout is reserved for results.
func note(_ text: String) { fr_log_line(text) }

/// "12.345" without Foundation.
func fixed(_ value: Double, _ digits: Int = 3) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    var fraction = String(Int(abs(scaled - Double(whole) * scale)))
    while fraction.count < digits { fraction = "0" + fraction }
    let sign = value < 0 && whole == 0 ? "-" : ""
    return digits == 0 ? "\(whole)" : "\(sign)\(whole).\(fraction)"
}
