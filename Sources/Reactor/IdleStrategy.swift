/// What a running reactor does after a duty cycle that found no work.
///
/// - `block`: sleep in the kernel (epoll_pwait2 / io_uring wait) until I/O or the
///   next timer is due. Lowest CPU, adds the kernel's wake-up latency.
/// - `spin`: poll again at once. Lowest latency, one core at 100%. On epoll
///   with at most `Configuration.busyPollSockets` sockets (datagram sockets and
///   TCP streams) it busy-polls: each cycle reads the sockets directly instead
///   of asking `epoll_wait` (one cycle in `busyPollReadinessEvery` still asks,
///   when listeners, descriptors or writing streams need readiness).
/// - `yield`: sched_yield between polls.
/// - `backoff`: spin `spins` empty cycles, then yield `yields` times, then park
///   for `parkNanoseconds` (capped by the next timer) per empty cycle.
public enum IdleStrategy: Sendable, Equatable {
    /// Wait in `epoll_wait` / `io_uring_enter` until I/O or the next timer: no CPU
    /// when idle, a wake-up's latency when traffic arrives.
    case block
    /// Poll without waiting, never giving up the CPU: lowest latency, one core at 100%.
    case spin
    /// Poll without waiting, calling `sched_yield` between empty polls, so other
    /// threads on the core can run.
    case yield
    /// Spin `spins` empty cycles, then yield `yields` times, then park for
    /// `parkNanoseconds` (capped by the next timer) per further empty cycle; any work
    /// starts the count again.
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

/// How `run()` pauses after an empty duty cycle, and how many empty cycles so
/// far. `.block` has none: its wait happens inside the backend.
struct IdleState {
    enum Pause { case relax, yield, backoff(spins: Int, yields: Int, parkNanoseconds: UInt64) }

    let pause: Pause
    var emptyCycles = 0

    /// nil for `.block`.
    init?(_ strategy: IdleStrategy) {
        switch strategy {
        case .block: return nil
        case .spin: pause = .relax
        case .yield: pause = .yield
        case .backoff(let spins, let yields, let park): pause = .backoff(spins: spins, yields: yields, parkNanoseconds: park)
        }
    }

    /// Called after a duty cycle that found no work. `untilNextTimer` (-1: no
    /// timer) is asked only when parking: spinning must not read the clock and
    /// the wheel on every empty cycle.
    @inline(__always)
    mutating func idle(untilNextTimer: () -> Int64) {
        emptyCycles &+= 1
        switch pause {
        case .relax: System.cpuRelax()
        case .yield: System.yield()
        case .backoff(let spins, let yields, let park):
            if emptyCycles <= spins {
                System.cpuRelax()
            } else if emptyCycles <= spins + yields {
                System.yield()
            } else {
                let wait = untilNextTimer()
                let cap = wait < 0 ? park : min(park, UInt64(wait))
                if cap > 0 { System.sleep(nanoseconds: cap) }
            }
        }
    }
}
