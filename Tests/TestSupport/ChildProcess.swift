import Foundation
#if canImport(Glibc)
import Glibc
#endif

// glibc 2.34+ (the Glibc module does not export it): close every descriptor
// from `lowest` up in the child.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionsAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32

/// A child process started with posix_spawn: the part of Foundation's `Process`
/// the tests use (executable, arguments, environment, standard streams as a
/// `Pipe` or `FileHandle`, `isRunning`, `waitUntilExit`, `terminate`), without
/// Foundation's launch path.
///
/// On Linux, Foundation's `Process.run()` scans /proc/self/fd and copies all
/// 256 bytes of each directory entry's name, reading past the end of glibc's
/// buffer (swift-corelibs-foundation#5472, in the Swift 6.3.1 toolchain): with
/// thousands of descriptors open (TCPScaleTests holds 10,000 connections) a
/// launch from any test crashed the whole test process now and then. Here the
/// child closes its descriptors from 3 up (posix_spawn_file_actions_addclosefrom_np)
/// and starts with no signal blocked (test worker threads block SIGINT and
/// SIGTERM, and a child inherits the mask).
public final class ChildProcess: @unchecked Sendable {
    /// How the child ended.
    public enum TerminationReason: Sendable { case exit, uncaughtSignal }

    public var executableURL: URL?
    public var arguments: [String]?
    /// The child's environment; nil: the test process's own.
    public var environment: [String: String]?
    /// A `Pipe` or `FileHandle`; nil: inherited.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?
    public private(set) var processIdentifier: pid_t = 0

    private let lock = NSLock()
    private var waitStatus: Int32?

    public init() {}

    /// Starts the child; throws when posix_spawn fails (no such file, say).
    public func run() throws {
        guard let path = executableURL?.path else { throw TestFailure("ChildProcess.run: no executableURL") }
        processIdentifier = try Self.spawn(path, arguments ?? [], environment: environment,
                                           streams: [(0, standardInput), (1, standardOutput), (2, standardError)])
        // The parent's copies of the child's pipe ends go, so a reader sees the
        // end of file when the child exits.
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        if let pipe = standardOutput as? Pipe { try? pipe.fileHandleForWriting.close() }
        if let pipe = standardError as? Pipe { try? pipe.fileHandleForWriting.close() }
    }

    /// posix_spawn of `path` with `arguments`: each stream (descriptor number and
    /// a `Pipe`, `FileHandle`, file path `String`, or nil to inherit) in place,
    /// every other descriptor from 3 up closed, the signal mask cleared and
    /// SIGINT, SIGTERM and SIGPIPE at their defaults. Returns the child's pid.
    public static func spawn(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                             streams: [(Int32, Any?)]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in streams {
            switch stream {
            case let pipe as Pipe:
                let end = target == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                posix_spawn_file_actions_adddup2(&actions, end.fileDescriptor, target)
            case let handle as FileHandle where handle.fileDescriptor >= 0 && handle !== FileHandle.nullDevice:
                posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, target)
            case is FileHandle:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case let file as String:
                posix_spawn_file_actions_addopen(&actions, target, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            default:
                break   // inherited
            }
        }
        _ = spawnActionsAddCloseFrom(&actions, 3)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = envp.map { posix_spawn(&pid, path, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw TestFailure("posix_spawn \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// True until the child has exited (reaped here).
    public var isRunning: Bool {
        lock.withLock {
            reap(blocking: false)
            return processIdentifier > 0 && waitStatus == nil
        }
    }

    /// Waits for the child to exit.
    public func waitUntilExit() {
        lock.withLock { reap(blocking: true) }
    }

    /// The exit status, or the signal that ended it (after `waitUntilExit`).
    public var terminationStatus: Int32 {
        let status = lock.withLock { waitStatus } ?? 0
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    public var terminationReason: TerminationReason {
        (lock.withLock { waitStatus } ?? 0) & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    /// SIGTERM.
    public func terminate() {
        if processIdentifier > 0 && lock.withLock({ waitStatus == nil }) { kill(processIdentifier, SIGTERM) }
    }

    /// SIGINT.
    public func interrupt() {
        if processIdentifier > 0 && lock.withLock({ waitStatus == nil }) { kill(processIdentifier, SIGINT) }
    }

    private func reap(blocking: Bool) {
        guard processIdentifier > 0, waitStatus == nil else { return }
        var status: Int32 = 0
        while true {
            let rc = waitpid(processIdentifier, &status, blocking ? 0 : WNOHANG)
            if rc == processIdentifier { waitStatus = status; return }
            if rc == 0 { return }
            if errno == EINTR { continue }
            waitStatus = 0   // ECHILD: reaped elsewhere
            return
        }
    }
}
