/// Another recovery path that can take gaps off UDP re-requests: SoupBinTCP
/// recovery (module SoupBinTCP, `SoupRecovery`) logs in at a gap's first
/// sequence number and streams it over TCP, which is how exchanges recover big
/// gaps and late joins (a UDP re-request server answers a packet at a time).
///
/// The `Rerequester` offers it each declared gap, and every range it would
/// otherwise give up on; what it takes is not requested over UDP. Both paths
/// feed the same `Session`, so delivery stays in order and exactly once.
public protocol GapHandoff: AnyObject {
    /// The range being recovered on the other path now, if any: the rerequester
    /// asks nothing inside it.
    var handedOff: Range<UInt64>? { get }

    /// Offers the missing range `gap`. `udpAvailable` is false when UDP cannot
    /// recover it: there are no re-request servers, every server is being
    /// skipped after timeouts, or the rerequester is about to give the range up.
    /// Returns true when the other path takes it (`handedOff` then covers its start).
    func takeOver(_ gap: Range<UInt64>, udpAvailable: Bool, now: UInt64) -> Bool
}
