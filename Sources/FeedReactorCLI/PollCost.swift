import ArgumentParser
import CFeedReactor
import Reactor

/// `feedreactor poll-cost`: what one empty `poll()` costs on each backend, with
/// one registered socket and one pending timer (the idle cost of a busy-polling
/// reactor). Backends alternate within the run; medians of `--runs`.
struct PollCost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poll-cost",
        abstract: "Nanoseconds per empty poll() on epoll and io_uring, alternating.")

    @Option(help: "Polls per run.") var polls: Int = 1_000_000
    @Option(help: "Runs per backend.") var runs: Int = 9
    @Option(help: "Pin to this CPU.") var cpu: Int?

    final class Idle: DatagramHandler, TimerHandler {
        func receive(_ batch: DatagramBatch, reactor: Reactor) {}
        func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {}
    }

    func run() throws {
        if let cpu { try Reactor.pinCurrentThread(toCPU: cpu) }
        var backends: [BackendKind] = [.epoll]
        if (try? Reactor(backend: .uring)) != nil { backends.append(.uring) } else { note("poll-cost: io_uring unavailable, epoll only") }
        var results: [BackendKind: [Double]] = [:]
        let reactors = try backends.map { kind -> (BackendKind, Reactor) in
            let reactor = try Reactor(backend: kind)
            let idle = Idle()
            try reactor.register(UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0)), handler: idle)
            try reactor.schedule(after: 3_600_000_000_000, handler: idle)
            return (kind, reactor)
        }
        for _ in 0..<runs {
            for (kind, reactor) in reactors {
                let start = fr_monotonic_ns()
                for _ in 0..<polls { _ = try reactor.poll() }
                results[kind, default: []].append(Double(fr_monotonic_ns() - start) / Double(polls))
            }
        }
        var line = ""
        for kind in backends {
            let sorted = results[kind]!.sorted()
            line += "\(kind)_ns=\(fixed(sorted[sorted.count / 2], 1)) "
        }
        print(line.trimmingSuffix())
    }
}

extension String {
    func trimmingSuffix() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
