import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, and the errno it returned.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The system call's name, e.g. `"bind"` or `"setsockopt(IP_ADD_MEMBERSHIP)"`.
    public let call: String
    /// The errno the call returned (or the negated result io_uring reported).
    public let errno: Int32

    /// An error for `call` failing with `errno`.
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// The call, the error text, the errno and, for common causes (address in use,
    /// permissions, memory limits), what to do about it.
    public var description: String {
        let reason = System.errorText(errno)
        var text = "\(call) failed: \(reason) (errno \(errno))"
        if let hint = SystemError.hint(call: call, errno: errno) { text += "; \(hint)" }
        return text
    }

    /// What the user can do about the common causes.
    static func hint(call: String, errno: Int32) -> String? {
        if call.hasPrefix("io_uring") && errno == ENOMEM {
            // Provided buffers are pinned and count against RLIMIT_MEMLOCK.
            return "io_uring could not pin the receive buffers; lower Reactor.Configuration.uringBufferCount "
                + "or ReceiveOptions.slotSize, or raise the locked-memory limit (ulimit -l)"
        }
        switch errno {
        case EADDRINUSE: return "another socket holds that address; pick another port, or stop the program that holds it (ss -tuapn shows it)"
        case EADDRNOTAVAIL: return "that address is not configured on any interface of this host"
        case EACCES, EPERM: return "run as root (or grant CAP_NET_ADMIN) or choose an unprivileged option"
        case EMFILE, ENFILE: return "raise the open-file limit (ulimit -n)"
        case ENOMEM, ENOBUFS: return "the kernel is out of socket memory; lower buffer sizes or raise net.core limits"
        case ENODEV: return "no such interface; check the interface name or address"
        default: return nil
        }
    }
}

/// Errors the reactor reports. Each says what went wrong and how to fix it.
public enum ReactorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; the wrapped error names the call and errno.
    case system(SystemError)
    /// The requested backend cannot run here (`.uring` without liburing at build
    /// time, or a kernel or seccomp policy that refuses io_uring). Use `.epoll` or
    /// `.auto`.
    case backendUnavailable(backend: String, reason: String)
    /// Every preallocated timer slot is in use; raise
    /// `Reactor.Configuration.timerCapacity`, or cancel timers you no longer need.
    case timerCapacityExhausted(capacity: Int)
    /// Every registration slot is in use; raise `Reactor.Configuration.maxRegistrations`
    /// or deregister sockets you no longer need.
    case registrationCapacityExhausted(capacity: Int)
    /// A call named a registration that is gone (`setInterest` on a stale token).
    case unknownToken(Token)
    /// The text could not be parsed as an address (`a.b.c.d`, an IPv6 address, or
    /// `[v6]:port`); the associated value is the text.
    case invalidAddress(String)
    /// An argument was out of range; the text says which and what is allowed.
    case invalidArgument(String)
    /// The reactor was closed (`close()`): it runs no more cycles and takes no
    /// more registrations. Make a new reactor.
    case stopped

    /// A sentence naming the failure and how to fix it.
    public var description: String {
        switch self {
        case .system(let error): return error.description
        case .backendUnavailable(let backend, let reason): return "\(backend) unavailable: \(reason)"
        case .timerCapacityExhausted(let capacity):
            return "timer capacity (\(capacity)) exhausted; raise Reactor.Configuration.timerCapacity"
        case .registrationCapacityExhausted(let capacity):
            return "registration capacity (\(capacity)) exhausted; raise Reactor.Configuration.maxRegistrations"
        case .unknownToken(let token): return "\(token) does not name a live registration (deregistered already?)"
        case .invalidAddress(let text): return "invalid address '\(text)': use a.b.c.d, an IPv6 address or [v6]:port"
        case .invalidArgument(let text): return text
        case .stopped: return "the reactor was stopped"
        }
    }
}
