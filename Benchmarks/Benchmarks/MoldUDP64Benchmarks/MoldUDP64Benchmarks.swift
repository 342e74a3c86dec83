// swift package --disable-sandbox benchmark --target MoldUDP64Benchmarks
//
// Allocation gates for the MoldUDP64 hot paths: sequencing (Session) with
// recovery (Rerequester) in steady state and while recovering gaps, the whole
// Client on a reactor over loopback multicast, the Publisher's append and
// heartbeats, and the retransmission side (server answer, store, request codec).
// Protocol logic runs on a fake clock (`now` passed in); only the Client rig
// touches sockets.

import Benchmark
import BenchmarkSupport
import Reactor

let benchmarks: @Sendable () -> Void = {
    registerGate("Session.Steady", timed: true, setup: { try SessionRig() }, step: { $0.steady() })
    registerGate("Session.Recovery", timed: true, setup: { try SessionRig() }, step: { $0.recoveryRound() })
    registerGate("Session.RecoveryDeepBuffer", setup: { try DeepRecoveryRig() }, step: { $0.recoveryRound() })
    for backend in socketBackends {
        registerGate("Client.Receive.\(backend)", timed: true, setup: { try ClientRig(backend: backend) },
                     step: { $0.exchange() })
        registerGate("Client.Recovery.\(backend)", setup: { try ClientRig(backend: backend) }, step: { $0.recover() })
        // The same with metrics export and loggers on (issue 16): still 0.
        registerGate("Client.Receive.Instrumented.\(backend)", setup: { try ClientRig(backend: backend, instrumented: true) },
                     step: { $0.exchange() })
        registerGate("Client.Recovery.Instrumented.\(backend)", setup: { try ClientRig(backend: backend, instrumented: true) },
                     step: { $0.recover() })
    }
    registerGate("Publisher.Append", timed: true, setup: { try PublisherRig(udp: false) }, step: { $0.append() })
    registerGate("Publisher.AppendUDP", setup: { try PublisherRig(udp: true) }, step: { $0.append() })
    registerGate("Publisher.Heartbeat", setup: { try PublisherRig(udp: false) }, step: { $0.heartbeat() })
    registerGate("Server.Answer", timed: true, setup: { try ServerRig() }, step: { $0.answer() })
    registerGate("Store.AppendMessage", setup: { try ServerRig() }, step: { $0.storeAppendAndRead() })
    registerGate("Request.EncodeDecode", setup: { try ServerRig() }, step: { $0.requestRoundTrip() })
    registerCanary()
}
