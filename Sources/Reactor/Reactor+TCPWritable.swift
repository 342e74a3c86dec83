extension Reactor {
    /// Asks for one `writable` callback once the connection's send ring drains
    /// to its low mark, for a writer that stopped on its own before the ring was
    /// full (it writes only whole frames, so no `write` came up short to arm the
    /// callback). Does nothing when the ring is empty (write now instead) or the
    /// token is stale.
    public func notifyWhenWritable(_ token: Token) {
        guard let connection = tcpConnection(for: token), !connection.send.isEmpty else { return }
        connection.wantsWritable = true
    }
}
