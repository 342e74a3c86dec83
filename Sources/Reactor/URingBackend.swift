import CFeedReactor

/// io_uring backend: placeholder until the io_uring work lands. Reports itself
/// unavailable so `.auto` selects epoll.
final class URingBackend: Backend {
    let kind = BackendKind.uring
    var descriptor: Int32 { -1 }

    init(_ configuration: Reactor.Configuration) throws(ReactorError) {
        throw .backendUnavailable(backend: "io_uring", reason: "not implemented in this build; use --backend epoll")
    }

    func add(_ registration: Registration) throws(ReactorError) {}
    func remove(_ registration: Registration) {}
    func addWakeup(descriptor: Int32) throws(ReactorError) {}
    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int { 0 }
    func dispatch(into reactor: Reactor) -> Int { 0 }
    func close() {}
}
