import CFeedReactor

/// What a running reactor does after a duty cycle that found no work.
///
/// - `block`: sleep in the kernel (epoll_pwait2 / io_uring wait) until I/O or the
///   next timer is due. Lowest CPU, adds the kernel's wake-up latency.
/// - `spin`: poll again at once. Lowest latency, one core at 100%. On epoll
///   with at most `Configuration.busyPollSockets` sockets it busy-polls: each
///   cycle reads the sockets directly instead of asking `epoll_wait`.
/// - `yield`: sched_yield between polls.
/// - `backoff`: spin `spins` empty cycles, then yield `yields` times, then park
///   for `parkNanoseconds` (capped by the next timer) per empty cycle.
public enum IdleStrategy: Sendable, Equatable {
    case block
    case spin
    case yield
    case backoff(spins: Int = 10_000, yields: Int = 100, parkNanoseconds: UInt64 = 50_000)

    /// Parses "block", "spin", "yield", "backoff".
    public init?(name: String) {
        switch name {
        case "block": self = .block
        case "spin": self = .spin
        case "yield": self = .yield
        case "backoff": self = .backoff()
        default: return nil
        }
    }
}

/// The state of an idle strategy between cycles (how many empty cycles so far).
struct IdleState {
    var emptyCycles = 0

    /// Called after each duty cycle with its work count.
    @inline(__always)
    mutating func idle(_ strategy: IdleStrategy, work: Int, untilNextTimer: Int64) {
        if work > 0 { emptyCycles = 0; return }
        emptyCycles &+= 1
        switch strategy {
        case .block: break  // the wait happened inside the backend
        case .spin: fr_cpu_relax()
        case .yield: _ = fr_sched_yield()
        case .backoff(let spins, let yields, let park):
            if emptyCycles <= spins {
                fr_cpu_relax()
            } else if emptyCycles <= spins + yields {
                _ = fr_sched_yield()
            } else {
                let cap = untilNextTimer < 0 ? park : min(park, UInt64(untilNextTimer))
                if cap > 0 { fr_sleep_ns(cap) }
            }
        }
    }
}
