import CFeedReactor
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// TCP on io_uring: completions instead of readiness.
///
/// - Listeners: one multishot `IORING_OP_ACCEPT` (accept4 flags SOCK_NONBLOCK |
///   SOCK_CLOEXEC) per listener; each completion is a new descriptor, handed to
///   `TCPListenerState.adopt` (the same handler decision, connection limit and
///   counters as epoll; the peer address comes from getpeername, since one
///   sockaddr would be overwritten by the next accept of the multishot). A
///   completion without `IORING_CQE_F_MORE` ends it: re-armed at the end of the
///   dispatch (after telling the handler when it was an error).
/// - Reading: one provided-buffer ring (buffer group) for every stream of the
///   reactor (`Configuration.uringStreamBufferCount` buffers of
///   `uringStreamBufferSize` bytes; a group per connection would cap out at
///   65,536 groups), filled by one multishot `IORING_OP_RECV` per stream. A
///   completion's bytes go straight to the handler when its receive ring is
///   empty (no copy) and what it does not consume is copied into the ring;
///   otherwise they are copied behind what is there and offered. The buffer
///   goes back to the kernel at once. When the receive ring is full and the
///   handler consumes nothing, the rest of the buffer is held (a per-buffer
///   linked list, in order), reading pauses and the multishot recv is
///   cancelled; completions that were already under way join the held list.
///   Resuming (a consume, `resumeReading`) first delivers the held bytes, then
///   the end of stream if it came meanwhile, then re-arms. A paused stream
///   keeps its held buffers out of the group (at least one, more if its recv
///   had more under way when the cancel landed): size the group well above the
///   streams expected to be paused at once, or the others wait for buffers.
/// - A recv ends with -ENOBUFS when the group ran dry (counted in
///   `Counters.bufferExhaustions`, logged once): re-armed at the end of a
///   dispatch once buffers are free again (`Counters.receiveRearms`), at most
///   as many streams per dispatch as there are buffers not held, oldest first. 0 is the peer's EOF;
///   -ECONNRESET and other errors end the stream as on epoll.
/// - Writing: the send ring's spans go out as one `IORING_OP_SEND` (one span) or
///   `SENDMSG` (two), MSG_NOSIGNAL, at most one in flight per stream (so order
///   holds; a full socket makes io_uring wait for POLLOUT itself), submitted
///   with the duty cycle. The completion consumes what was sent and flushes on
///   (the rest of a short send, the deferred shutdown or close, `writable`).
/// - Connecting: a one-shot POLLOUT poll, then SO_ERROR, as on epoll.
/// - Closing: the stream's receive, send and poll are cancelled; its state (and
///   its user_data index) lives on until their last completions arrive, so no
///   completion reaches a reused slot. The kernel may read a connection's send
///   ring until its send completes: a pooled connection goes back to its pool
///   only then (`TCPConnection.kernelReleased`).
/// - user_data = operation (8 bits) | stream index in `streams` (24) | that
///   entry's serial (32).
/// - Fallback: without the opcodes (probe), with
///   `Configuration.uringStreamCompletions` false, or when the buffer group
///   cannot be registered, streams and listeners are watched with poll SQEs and
///   read and written with readv / sendmsg, as plain descriptors; the reason is
///   logged once per reactor and `Reactor.tcpUsesCompletions` is false.
extension URingBackend {
    enum StreamMode { case undecided, completions, readiness }

    @inline(__always)
    static func streamData(_ operation: Operation, _ stream: URingStream) -> UInt64 {
        operation.rawValue << 56 | UInt64(stream.index & 0xFF_FFFF) << 32 | UInt64(stream.serial)
    }

    @inline(__always)
    static func listenerData(_ token: Token) -> UInt64 {
        Operation.accept.rawValue << 56 | UInt64(token.slot & 0xFF_FFFF) << 32 | UInt64(token.generation)
    }

    var streamsUseCompletions: Bool { streamMode == .completions }

    /// Decided once, at the first TCP registration: completions, or readiness
    /// (said once in the log, with the reason and what to do about it).
    func decideStreamMode() -> Bool {
        guard streamMode == .undecided else { return streamMode == .completions }
        streamMode = .readiness
        let reason: String
        if !streamOptions.completions {
            reason = "Reactor.Configuration.uringStreamCompletions is false"
        } else if fr_uring_probe_tcp(ring) != 1 {
            reason = "this kernel (\(Self.kernelRelease())) lacks an io_uring opcode the TCP path needs (ACCEPT, RECV, "
                + "SEND, SENDMSG, POLL_ADD, ASYNC_CANCEL); run Linux 6.0 or newer"
        } else if let failure = createStreamBuffers() {
            reason = failure
        } else {
            streamMode = .completions
            return true
        }
        logger.notice("io_uring TCP streams fall back to poll SQEs with readv/sendmsg", metadata: ["reason": "\(reason)"])
        return false
    }

    /// The shared buffer group; nil when made, else why not.
    func createStreamBuffers() -> String? {
        // (Sizes were checked in URingBackend.init.)
        let count = streamOptions.bufferCount
        guard let group = takeGroup() else {
            return "io_uring buffer groups exhausted (65536 datagram sockets registered)"
        }
        var error: Int32 = 0
        guard let buffers = fr_uring_buffers_create(ring, UInt32(group), UInt32(count), streamOptions.bufferSize,
                                                    &error) else {
            freeGroups.append(group)
            return "io_uring_register_buf_ring failed: \(String(cString: strerror(error))) (errno \(error)); lower "
                + "Reactor.Configuration.uringStreamBufferCount or raise the locked-memory limit (ulimit -l)"
        }
        streamBuffers = buffers
        streamGroup = group
        streamBufferCount = count
        heldNext = .allocate(filledWith: -1, count: count)
        heldOffset = .allocate(filledWith: 0, count: count)
        heldLength = .allocate(filledWith: 0, count: count)
        return nil
    }

    // MARK: - Registration

    func addStream(_ registration: Registration, _ connection: TCPConnection) throws(ReactorError) -> URingStream {
        let stream: URingStream
        if let index = freeStreams.popLast() {
            stream = streams[Int(index)]!
        } else {
            guard streams.count < Self.maxSlots else {
                throw .invalidArgument("io_uring TCP: \(Self.maxSlots) streams open or closing")
            }
            stream = URingStream(index: streams.count)
            streams.append(stream)
        }
        stream.serial &+= 1
        stream.reset()
        stream.connection = connection
        stream.descriptor = registration.descriptor
        do {
            try applyStreamInterest(stream, connection, registration.interest)
        } catch {
            stream.connection = nil
            freeStreams.append(Int32(stream.index))
            throw .system(error)
        }
        return stream
    }

    func addListener(_ registration: Registration, _ listener: TCPListenerState) throws(ReactorError) -> URingListener {
        let state = URingListener(listener: listener)
        do { try armAccept(registration.descriptor, registration.token, state) } catch { throw .system(error) }
        return state
    }

    func armAccept(_ descriptor: Int32, _ token: Token, _ state: URingListener) throws(SystemError) {
        try System.uringPrepare("io_uring_get_sqe") { fr_uring_accept_multishot(ring, descriptor, Self.listenerData(token)) }
        state.armed = true
    }

    func armReceive(_ stream: URingStream) throws(SystemError) {
        try System.uringPrepare("io_uring_get_sqe") {
            fr_uring_recv_multishot(ring, stream.descriptor, UInt32(streamGroup), Self.streamData(.streamReceive, stream))
        }
        stream.recvArmed = true
    }

    /// Readable: receive (after the held bytes); not readable: cancel the
    /// receive. Writable matters only while connecting (sends are SQEs).
    func applyStreamInterest(_ stream: URingStream, _ connection: TCPConnection, _ interest: Interest) throws(SystemError) {
        if interest.contains(.writable) && connection.phase == .connecting && !stream.connectArmed {
            try System.uringPrepare("io_uring_get_sqe") {
                fr_uring_poll_add(ring, stream.descriptor, FR_READY_WRITABLE, Self.streamData(.streamConnect, stream))
            }
            stream.connectArmed = true
        }
        if interest.contains(.readable) {
            if stream.heldHead >= 0 || stream.eofPending {
                listResume(stream)
            } else if !stream.recvArmed {
                try armReceive(stream)
            }
            // (Armed but being cancelled: its last completion re-arms, since the
            // connection wants to read by then.)
        } else if stream.recvArmed && !stream.recvCancelling {
            stream.recvCancelling = true
            _ = fr_uring_cancel(ring, Self.streamData(.streamReceive, stream), Self.cancelData)
        }
    }

    func listResume(_ stream: URingStream) {
        guard !stream.resumeListed else { return }
        stream.resumeListed = true
        streamResumes.append(Int32(stream.index))
    }

    func removeStream(_ stream: URingStream) {
        releaseHeld(stream)
        stream.eofPending = false
        var cancels = false
        if stream.recvArmed && !stream.recvCancelling {
            stream.recvCancelling = true
            cancels = fr_uring_cancel(ring, Self.streamData(.streamReceive, stream), Self.cancelData) == 0 || cancels
        }
        if stream.sendInFlight {
            cancels = fr_uring_cancel(ring, Self.streamData(.streamSend, stream), Self.cancelData) == 0 || cancels
        }
        if stream.connectArmed {
            cancels = fr_uring_cancel(ring, Self.streamData(.streamConnect, stream), Self.cancelData) == 0 || cancels
        }
        stream.retiring = true
        // Only a send in flight still uses the connection (its send ring): let
        // it go now otherwise, so that its pool may hand it out again at once.
        if !stream.sendInFlight { stream.connection = nil }
        // The caller closes the descriptor next; the kernel keeps the socket
        // until these requests end, so end them now rather than at the next wait.
        if cancels { _ = fr_uring_submit(ring) }
        retireIfDone(stream)
    }

    func removeListener(_ state: URingListener, _ token: Token) {
        guard state.armed else { return }
        state.armed = false
        _ = fr_uring_cancel(ring, Self.listenerData(token), Self.cancelData)
        _ = fr_uring_submit(ring)
    }

    /// A retiring stream whose requests have all completed: its index is free.
    func retireIfDone(_ stream: URingStream) {
        guard stream.retiring, !stream.recvArmed, !stream.sendInFlight, !stream.connectArmed else { return }
        stream.retiring = false
        stream.connection = nil
        stream.recvCancelling = false
        freeStreams.append(Int32(stream.index))
    }

    // MARK: - Held buffers

    func hold(_ stream: URingStream, _ bid: Int, offset: Int, length: Int) {
        guard let heldNext, let heldOffset, let heldLength else { return }
        heldNext[bid] = -1
        heldOffset[bid] = Int32(offset)
        heldLength[bid] = Int32(length)
        if stream.heldTail >= 0 { heldNext[Int(stream.heldTail)] = Int32(bid) } else { stream.heldHead = Int32(bid) }
        stream.heldTail = Int32(bid)
        heldBuffers += 1
    }

    func releaseHeld(_ stream: URingStream) {
        guard let heldNext, let streamBuffers else { return }
        while stream.heldHead >= 0 {
            let bid = Int(stream.heldHead)
            stream.heldHead = heldNext[bid]
            fr_uring_buffers_recycle(streamBuffers, UInt32(bid))
            heldBuffers -= 1
        }
        stream.heldTail = -1
    }

    // MARK: - Sends

    /// Prepares a send of the ring's spans unless one is in flight. False when
    /// the connection failed (no SQE could be had).
    func sendStream(_ connection: TCPConnection, reactor: Reactor) -> Bool {
        guard case .stream(let stream)? = entries[Int(connection.token.slot)], stream.connection === connection else {
            return connection.sendDirectly(reactor: reactor)   // readiness fallback
        }
        if stream.sendInFlight || connection.send.isEmpty { return true }
        return prepareSend(stream, connection, pollFirst: false, reactor: reactor)
    }

    func prepareSend(_ stream: URingStream, _ connection: TCPConnection, pollFirst: Bool, reactor: Reactor) -> Bool {
        let count = connection.send.readableVectors(connection.vectors)
        let rc = fr_uring_send_stream(ring, stream.descriptor, stream.message, connection.vectors, count, pollFirst ? 1 : 0,
                                      Self.streamData(.streamSend, stream))
        guard rc == 0 else {
            connection.failed(SystemError(call: "io_uring_get_sqe", errno: -rc), reactor: reactor)
            return false
        }
        stream.sendInFlight = true
        connection.kernelHoldsSend = true
        return true
    }

    // MARK: - Completions

    @inline(__always)
    func stream(for data: UInt64) -> URingStream? {
        let index = Int((data >> 32) & 0xFF_FFFF)
        guard index < streams.count, let stream = streams[index], stream.serial == UInt32(truncatingIfNeeded: data) else {
            return nil
        }
        return stream
    }

    func streamReceived(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        let hasBuffer = completion.flags & FR_URING_CQE_F_BUFFER != 0
        let bid = Int(fr_uring_cqe_buffer(completion.flags))
        guard let buffers = streamBuffers else { return 0 }
        guard let stream = stream(for: completion.user_data) else {
            reactor.tally.staleEvents &+= 1
            if hasBuffer { fr_uring_buffers_recycle(buffers, UInt32(bid)) }
            return 0
        }
        let result = Int(completion.result)
        var work = 0
        if hasBuffer {
            if result > 0, stream.isLive, let connection = stream.connection {
                reactor.tcpCounters.bytesReceived &+= UInt64(result)
                work = 1
                if stream.heldHead >= 0 || !connection.wantsRead {
                    // Behind what waits already, or reading stopped (paused, closing)
                    // and the cancel has not landed yet: kept for a resume.
                    hold(stream, bid, offset: 0, length: result)
                } else {
                    let serial = stream.serial
                    // Safety: the kernel filled `result` bytes of buffer `bid`; it is ours until recycled.
                    let bytes = UnsafeRawBufferPointer(start: fr_uring_buffers_address(buffers, UInt32(bid)), count: result)
                    let taken = connection.deliver(bytes, reactor: reactor)
                    if taken < result && stream.isLive && stream.serial == serial {
                        hold(stream, bid, offset: taken, length: result - taken)
                    } else {
                        fr_uring_buffers_recycle(buffers, UInt32(bid))
                    }
                }
            } else {
                fr_uring_buffers_recycle(buffers, UInt32(bid))
            }
        }
        if completion.flags & FR_URING_CQE_F_MORE == 0 {
            work += receiveEnded(stream, result: result, reactor: reactor)
        }
        return work
    }

    /// A stream's multishot recv ended: EOF, an error, the group ran dry, our cancel.
    func receiveEnded(_ stream: URingStream, result: Int, reactor: Reactor) -> Int {
        stream.recvArmed = false
        stream.recvCancelling = false
        guard stream.isLive, let connection = stream.connection else {
            retireIfDone(stream)
            return 0
        }
        if result == 0 {
            // EOF after the bytes still held, if any.
            if stream.heldHead >= 0 {
                stream.eofPending = true
                return 0
            }
            connection.endOfStream(reactor: reactor)
            return 1
        }
        if result < 0 && result != -Int(ENOBUFS) && result != -Int(ECANCELED) {
            connection.failed(SystemError(call: "recv", errno: Int32(-result)), reactor: reactor)
            return 1
        }
        if result == -Int(ENOBUFS) {
            reactor.tally.bufferExhaustions &+= 1
            if !streamBuffersRanDry {
                streamBuffersRanDry = true
                logger.notice(
                    "io_uring TCP: the shared receive buffer group ran dry; streams wait for buffers (counted in Reactor.counters.bufferExhaustions); raise Reactor.Configuration.uringStreamBufferCount above the streams receiving at once",
                    metadata: ["buffers": "\(streamBufferCount)", "bufferSize": "\(streamOptions.bufferSize)"])
            }
        }
        guard connection.wantsRead, stream.heldHead < 0 else { return 0 }
        if result == -Int(ENOBUFS) {
            if !stream.rearmListed {
                stream.rearmListed = true
                streamRearms.append(Int32(stream.index))
            }
        } else {
            rearm(stream, connection, reactor: reactor)
        }
        return 0
    }

    func rearm(_ stream: URingStream, _ connection: TCPConnection, reactor: Reactor) {
        do {
            try armReceive(stream)
            reactor.tally.receiveRearms &+= 1
        } catch {
            connection.failed(error, reactor: reactor)
        }
    }

    func streamSent(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        guard let stream = stream(for: completion.user_data) else {
            reactor.tally.staleEvents &+= 1
            return 0
        }
        stream.sendInFlight = false
        guard let connection = stream.connection else { return 0 }
        connection.kernelHoldsSend = false
        guard stream.isLive else {
            // Closed with this send in flight: the kernel is done with the ring now.
            stream.connection = nil
            connection.kernelReleased()
            retireIfDone(stream)
            return 0
        }
        let result = Int(completion.result)
        if result >= 0 {
            connection.send.consume(result)
            reactor.tcpCounters.bytesSent &+= UInt64(result)
            // The rest of a short send, then the follow-ups (close, shutdown, writable).
            connection.flush(reactor: reactor)
            return 1
        }
        if result == -Int(EAGAIN) {
            // (A socket flagged to never wait: let io_uring poll for room first.)
            _ = prepareSend(stream, connection, pollFirst: true, reactor: reactor)
            return 0
        }
        connection.failed(SystemError(call: "send", errno: Int32(-result)), reactor: reactor)
        return 1
    }

    func streamConnected(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        guard let stream = stream(for: completion.user_data) else {
            reactor.tally.staleEvents &+= 1
            return 0
        }
        stream.connectArmed = false
        guard stream.isLive, let connection = stream.connection else {
            retireIfDone(stream)
            return 0
        }
        guard connection.phase == .connecting else { return 0 }
        // POLLOUT, POLLERR or POLLHUP: SO_ERROR says which (writeReady asks it).
        return connection.writeReady(reactor: reactor)
    }

    func accepted(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        let token = Self.token(fromData: completion.user_data)
        let result = completion.result
        guard let registration = reactor.registration(for: token), case .listener(let state)? = entries[Int(token.slot)]
        else {
            reactor.tally.staleEvents &+= 1
            if result >= 0 {
                // Accepted by the multishot before the listener went (e.g. its own
                // `accept` deregistered it, with this completion in the same reap):
                // nobody takes it. Reset it, as the kernel resets what is still
                // queued on a closed listener (inet_csk_listen_stop): the peer sees
                // the reset it sees on epoll, not an EOF from a connection nobody serves.
                _ = fr_tcp_set_linger_zero(result)
                System.close(result)
            }
            return 0
        }
        var work = 0
        if result >= 0 {
            let peer = (try? System.peerAddress(result)) ?? SocketAddress.any(port: 0)
            state.listener.adopt(result, peer: peer, reactor: reactor)
            work = 1
        }
        if completion.flags & FR_URING_CQE_F_MORE == 0 {
            state.armed = false
            // ECONNABORTED: the peer gave up while queued (accept(2): retry), as on epoll.
            if result < 0 && result != -ECANCELED && result != -ECONNABORTED {
                state.listener.failed(SystemError(call: "accept4", errno: -result), reactor: reactor)
                work += 1
            }
            if registration.isOpen, case .listener(let current)? = entries[Int(token.slot)], current === state {
                listenerRearms.append(token)
            }
        }
        return work
    }

    /// End of a dispatch: re-arm what ended, deliver what was held for resumed
    /// streams. Returns the callbacks run.
    func runStreamLists(_ reactor: Reactor) -> Int {
        var work = 0
        if !listenerRearms.isEmpty {
            for token in listenerRearms {
                guard let registration = reactor.registration(for: token),
                      case .listener(let state)? = entries[Int(token.slot)], !state.armed else { continue }
                do {
                    try armAccept(registration.descriptor, token, state)
                } catch {
                    state.listener.failed(error, reactor: reactor)
                }
            }
            listenerRearms.removeAll(keepingCapacity: true)
        }
        let resumes = streamResumes.count
        var position = 0
        // Delivering runs handlers, which may list more: only those listed now.
        while position < resumes {
            let index = Int(streamResumes[position])
            position += 1
            if let stream = streams[index] { work += resume(stream, reactor: reactor) }
        }
        streamResumes.removeFirst(resumes)
        if !streamRearms.isEmpty && heldBuffers < streamBufferCount {
            // At most as many re-arms as the group has buffers not held: re-arming
            // all of them (10,000 streams, 512 buffers) made every one but a few
            // end at once in -ENOBUFS again, a storm of SQEs and CQEs each cycle
            // that starved the streams. The rest wait, in order, for the next dispatch.
            let count = min(streamRearms.count, streamBufferCount - heldBuffers)
            for position in 0..<count {
                guard let stream = streams[Int(streamRearms[position])] else { continue }
                stream.rearmListed = false
                guard stream.isLive, let connection = stream.connection, connection.wantsRead, !stream.recvArmed,
                      stream.heldHead < 0 else { continue }
                rearm(stream, connection, reactor: reactor)
            }
            streamRearms.removeFirst(count)
        }
        return work
    }

    /// Reading resumed: the held bytes first, in order; then the EOF that came
    /// behind them; then a new receive.
    func resume(_ stream: URingStream, reactor: Reactor) -> Int {
        stream.resumeListed = false
        guard stream.isLive, let connection = stream.connection, connection.wantsRead,
              let buffers = streamBuffers, let heldNext, let heldOffset, let heldLength else { return 0 }
        let serial = stream.serial
        var work = 0
        while stream.heldHead >= 0 {
            let bid = Int(stream.heldHead)
            let length = Int(heldLength[bid])
            // Safety: a held buffer is ours (not in the kernel's ring) until recycled.
            let bytes = UnsafeRawBufferPointer(start: fr_uring_buffers_address(buffers, UInt32(bid)) + Int(heldOffset[bid]),
                                               count: length)
            let taken = connection.deliver(bytes, reactor: reactor)
            work += 1
            // Closed inside: removeStream gave the held buffers back.
            guard stream.isLive, stream.serial == serial else { return work }
            if taken < length {
                heldOffset[bid] += Int32(taken)
                heldLength[bid] -= Int32(taken)
                return work   // paused again
            }
            stream.heldHead = heldNext[bid]
            if stream.heldHead < 0 { stream.heldTail = -1 }
            fr_uring_buffers_recycle(buffers, UInt32(bid))
            heldBuffers -= 1
        }
        if stream.eofPending {
            stream.eofPending = false
            connection.endOfStream(reactor: reactor)
            return work + 1
        }
        if connection.wantsRead && !stream.recvArmed { rearm(stream, connection, reactor: reactor) }
        return work
    }

    /// Work the next dispatch must do even when no completion arrives.
    var streamListsPending: Bool {
        !streamResumes.isEmpty || !listenerRearms.isEmpty || (!streamRearms.isEmpty && heldBuffers < streamBufferCount)
    }

    /// At teardown (the ring is gone, the kernel reads no connection memory).
    func teardownStreams() {
        for case let stream? in streams {
            if let connection = stream.connection, stream.retiring {
                stream.connection = nil
                connection.kernelReleased()
            }
            stream.connection = nil
        }
        fr_uring_buffers_destroy(nil, streamBuffers)
        streamBuffers = nil
        heldNext?.deallocate()
        heldOffset?.deallocate()
        heldLength?.deallocate()
        heldNext = nil
        heldOffset = nil
        heldLength = nil
    }
}

/// The io_uring TCP sizes and switch (from `Reactor.Configuration`).
struct URingStreamOptions {
    var completions: Bool
    var bufferCount: Int
    var bufferSize: Int
}

/// io_uring's state of one TCP stream. Kept in `URingBackend.streams` by index
/// for the backend's whole life and reused (its serial changes each time), so
/// that a completion arriving after the stream closed finds it, not another.
final class URingStream {
    let index: Int
    var serial: UInt32 = 0
    /// The connection, while registered, and while retiring with a send in flight.
    var connection: TCPConnection?
    var descriptor: Int32 = -1
    var recvArmed = false
    var recvCancelling = false
    var sendInFlight = false
    var connectArmed = false
    /// Deregistered; waiting for the last completions.
    var retiring = false
    /// The peer's EOF arrived behind held bytes.
    var eofPending = false
    /// Held provided buffers (ids), oldest first; -1: none.
    var heldHead: Int32 = -1
    var heldTail: Int32 = -1
    var resumeListed = false
    var rearmListed = false
    /// The SENDMSG header of a two-span send (read by the kernel at issue).
    let message: UnsafeMutablePointer<msghdr>

    init(index: Int) {
        self.index = index
        message = .allocate(capacity: 1)
        message.initialize(to: msghdr())
    }

    deinit { message.deallocate() }

    var isLive: Bool { connection != nil && !retiring }

    func reset() {
        recvArmed = false
        recvCancelling = false
        sendInFlight = false
        connectArmed = false
        eofPending = false
        heldHead = -1
        heldTail = -1
        resumeListed = false
        rearmListed = false
    }
}

/// io_uring's state of one TCP listener: its multishot accept.
final class URingListener {
    let listener: TCPListenerState
    var armed = false

    init(listener: TCPListenerState) { self.listener = listener }
}
