/// The handshake (packet types 1-4) and its stateless cookie.
///
/// ```
/// client                                   server
/// hello(client id, window, padding)  ─────▶  (keeps nothing)
///                                    ◀─────  cookie(timestamp, MAC(address, client id, timestamp))
/// helloWithCookie(id, window, ts, cookie) ─▶  checks the MAC and age, then allocates
///                                    ◀─────  welcome(server id, window)
/// ```
/// Only a peer that receives at its source address can echo the cookie, so a
/// spoofed source cannot make the server allocate (the idea of TCP SYN
/// cookies and RFC 9000 §8.1.2 Retry). The hello is padded so the cookie
/// answer never amplifies.
public enum Handshake {
    /// Body offsets after the 20-byte header.
    static let helloBody = 12          // source id 8 + window 4
    static let cookieBody = 8 + WireFormat.cookieLength
    static let helloWithCookieBody = 12 + 8 + WireFormat.cookieLength
    static let welcomeBody = 12

    /// A decoded handshake packet.
    public enum Message: Equatable, Sendable {
        /// A client's first hello: its connection id and receive window (in messages).
        case hello(source: UInt64, window: UInt32)
        /// The server's stateless answer: a timestamp (seconds) and the cookie binding
        /// it to the client's address and id.
        case cookie(timestamp: UInt64, cookie: Cookie)
        /// The client's second hello, returning the timestamp and cookie.
        case helloWithCookie(source: UInt64, window: UInt32, timestamp: UInt64, cookie: Cookie)
        /// The server's acceptance: its connection id and receive window.
        case welcome(source: UInt64, window: UInt32)
    }

    /// A 128-bit handshake cookie (two SipHash-2-4 values).
    public struct Cookie: Equatable, Sendable {
        /// The first 64 bits.
        public var high: UInt64
        /// The last 64 bits.
        public var low: UInt64
        /// A cookie from its two halves.
        public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    }

    /// Decodes the body of a handshake packet.
    public static func decode(_ packet: PacketView) throws(WireError) -> Message {
        let body = packet.body
        guard let base = body.baseAddress else { throw .truncatedHandshake }
        switch packet.type {
        case .hello:
            guard body.count + WireFormat.headerLength >= WireFormat.helloPaddedLength else { throw .truncatedHandshake }
            return .hello(source: BigEndian.u64(base, 0), window: BigEndian.u32(base, 8))
        case .cookie:
            guard body.count >= cookieBody else { throw .truncatedHandshake }
            return .cookie(timestamp: BigEndian.u64(base, 0),
                           cookie: Cookie(high: BigEndian.u64(base, 8), low: BigEndian.u64(base, 16)))
        case .helloWithCookie:
            guard body.count + WireFormat.headerLength >= WireFormat.helloPaddedLength else { throw .truncatedHandshake }
            return .helloWithCookie(source: BigEndian.u64(base, 0), window: BigEndian.u32(base, 8),
                                    timestamp: BigEndian.u64(base, 12),
                                    cookie: Cookie(high: BigEndian.u64(base, 20), low: BigEndian.u64(base, 28)))
        case .welcome:
            guard body.count >= welcomeBody else { throw .truncatedHandshake }
            return .welcome(source: BigEndian.u64(base, 0), window: BigEndian.u32(base, 8))
        case .data:
            throw .unknownPacketType
        }
    }

    /// Writes a handshake packet into `buffer` (at least `helloPaddedLength`
    /// bytes); returns its length.
    public static func encode(_ message: Message, destination: UInt64, into buffer: UnsafeMutableRawPointer) -> Int {
        let type: PacketType
        var length: Int
        switch message {
        case .hello(let source, let window):
            type = .hello
            BigEndian.put(source, buffer, 20)
            BigEndian.put(window, buffer, 28)
            length = WireFormat.helloPaddedLength
        case .cookie(let timestamp, let cookie):
            type = .cookie
            BigEndian.put(timestamp, buffer, 20)
            BigEndian.put(cookie.high, buffer, 28)
            BigEndian.put(cookie.low, buffer, 36)
            length = 20 + cookieBody
        case .helloWithCookie(let source, let window, let timestamp, let cookie):
            type = .helloWithCookie
            BigEndian.put(source, buffer, 20)
            BigEndian.put(window, buffer, 28)
            BigEndian.put(timestamp, buffer, 32)
            BigEndian.put(cookie.high, buffer, 40)
            BigEndian.put(cookie.low, buffer, 48)
            length = WireFormat.helloPaddedLength
        case .welcome(let source, let window):
            type = .welcome
            BigEndian.put(source, buffer, 20)
            BigEndian.put(window, buffer, 28)
            length = 20 + welcomeBody
        }
        // Padding (and the unused tail of a short body) is zero.
        let used: Int
        switch message {
        case .hello: used = 20 + helloBody
        case .helloWithCookie: used = 20 + helloWithCookieBody
        default: used = length
        }
        if length > used { (buffer + used).initializeMemory(as: UInt8.self, repeating: 0, count: length - used) }
        buffer.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        buffer.storeBytes(of: type.rawValue, toByteOffset: 1, as: UInt8.self)
        buffer.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        BigEndian.put(destination, buffer, 4)
        BigEndian.put(UInt64(0), buffer, 12)
        return length
    }
}

/// Makes and checks stateless handshake cookies: SipHash-2-4 (Aumasson,
/// Bernstein 2012) keyed with a server secret over the peer's address bytes,
/// its connection id and a timestamp (seconds), under two keys for 128 bits.
public struct CookieJar: Sendable {
    let keys: (UInt64, UInt64, UInt64, UInt64)
    /// A cookie older than this is refused (seconds).
    public var lifetime: UInt64

    /// A jar keyed by `secret` (two SipHash keys) whose cookies live `lifetime`
    /// seconds. Servers sharing a secret accept each other's cookies.
    public init(secret: (UInt64, UInt64, UInt64, UInt64), lifetime: UInt64 = 10) {
        keys = secret
        self.lifetime = lifetime
    }

    /// A jar with a random secret.
    public static func random(lifetime: UInt64 = 10) -> CookieJar {
        var generator = SystemRandomNumberGenerator()
        return CookieJar(secret: (generator.next(), generator.next(), generator.next(), generator.next()), lifetime: lifetime)
    }

    /// The cookie for a client at `address` (sockaddr bytes) with connection id
    /// `source`, issued at `timestamp` seconds.
    public func cookie(address: UnsafeRawBufferPointer, source: UInt64, timestamp: UInt64) -> Handshake.Cookie {
        Handshake.Cookie(high: Self.sipHash(keys.0, keys.1, address, source, timestamp),
                         low: Self.sipHash(keys.2, keys.3, address, source, timestamp))
    }

    /// True when `cookie` is the one this jar issued for `address`, `source` and
    /// `timestamp`, and it is at most `lifetime` seconds old at `nowSeconds`.
    public func isValid(_ cookie: Handshake.Cookie, address: UnsafeRawBufferPointer, source: UInt64,
                        timestamp: UInt64, nowSeconds: UInt64) -> Bool {
        guard timestamp <= nowSeconds, nowSeconds - timestamp <= lifetime else { return false }
        let expected = self.cookie(address: address, source: source, timestamp: timestamp)
        // Constant-time compare.
        return (expected.high ^ cookie.high) | (expected.low ^ cookie.low) == 0
    }

    static func sipHash(_ k0: UInt64, _ k1: UInt64, _ address: UnsafeRawBufferPointer,
                        _ source: UInt64, _ timestamp: UInt64) -> UInt64 {
        var v0: UInt64 = 0x736f_6d65_7073_6575 ^ k0
        var v1: UInt64 = 0x646f_7261_6e64_6f6d ^ k1
        var v2: UInt64 = 0x6c79_6765_6e65_7261 ^ k0
        var v3: UInt64 = 0x7465_6462_7974_6573 ^ k1
        @inline(__always) func round() {
            v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
            v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
            v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
            v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
        }
        @inline(__always) func absorb(_ m: UInt64) {
            v3 ^= m; round(); round(); v0 ^= m
        }
        var length: UInt64 = 16
        absorb(source)
        absorb(timestamp)
        var word: UInt64 = 0
        var shift: UInt64 = 0
        for byte in address {
            word |= UInt64(byte) << shift
            shift += 8
            length += 1
            if shift == 64 { absorb(word); word = 0; shift = 0 }
        }
        absorb(word | (length << 56))
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    @inline(__always) func rotl(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
