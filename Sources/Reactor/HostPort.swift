#if canImport(Glibc)
import Glibc
#endif

extension SocketAddress {
    /// Parses `HOST:PORT` as users write it: `a.b.c.d:port`, `[v6]:port`, or
    /// `name:port` with the name resolved through getaddrinfo (the first address
    /// it returns, IPv4 preferred). Each mistake gets its own message: a missing
    /// port, a port out of range, an IPv6 address without brackets, a name that does
    /// not resolve.
    ///
    /// ```swift
    /// let server = try SocketAddress(resolving: "localhost:41001")
    /// ```
    ///
    /// Resolution may block on DNS: call this while setting up, never on a reactor's hot path.
    public init(resolving text: String) throws(ReactorError) {
        let host: String
        let portText: String
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidArgument("'\(text)': an IPv6 address opened with '[' needs its ']', as in [::1]:41001")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else {
                throw .invalidArgument("'\(text)' has no port: write [\(host)]:PORT, e.g. [\(host)]:41001")
            }
            portText = String(rest.dropFirst())
        } else {
            let colons = text.count(where: { $0 == ":" })
            if colons > 1 {
                throw .invalidArgument("'\(text)': write an IPv6 address with a port in brackets, as in [::1]:41001")
            }
            guard colons == 1, let colon = text.firstIndex(of: ":") else {
                throw .invalidArgument("'\(text)' has no port: write HOST:PORT, e.g. \(text.isEmpty ? "127.0.0.1" : text):41001")
            }
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty else { throw .invalidArgument("'\(text)' has no host: write HOST:PORT, e.g. 127.0.0.1\(text)") }
        guard !portText.isEmpty else {
            throw .invalidArgument("'\(text)' has no port after the ':': write HOST:PORT, e.g. \(text)41001")
        }
        guard portText.allSatisfy(\.isNumber), let number = Int(portText) else {
            throw .invalidArgument("'\(portText)' in '\(text)' is not a port number (1-65535)")
        }
        guard (1...65_535).contains(number) else {
            throw .invalidArgument("port \(portText) in '\(text)' is out of range: ports are 1-65535")
        }
        if let literal = try? SocketAddress(host, port: UInt16(number)) {
            self = literal
            return
        }
        var address = try System.resolve(host: host)
        address.port = UInt16(number)
        self = address
    }
}

extension System {
    /// getaddrinfo for a datagram socket address of `host` (IPv4 first, then IPv6).
    /// Its failures are not errnos: gai_strerror says what went wrong.
    static func resolve(host: String) throws(ReactorError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let list else {
            let reason = String(cString: gai_strerror(rc))
            throw .invalidArgument("cannot resolve host '\(host)': \(reason); check the name, or give an address")
        }
        defer { freeaddrinfo(list) }
        var found: SocketAddress?
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            // Safety: getaddrinfo's entries stay valid until freeaddrinfo (deferred above).
            if let address = SocketAddress(raw: current.pointee.ai_addr, length: Int(current.pointee.ai_addrlen)) {
                if address.family == AF_INET { return address }
                if found == nil { found = address }
            }
            entry = current.pointee.ai_next
        }
        guard let found else { throw .invalidArgument("cannot resolve host '\(host)': no IPv4 or IPv6 address") }
        return found
    }
}
