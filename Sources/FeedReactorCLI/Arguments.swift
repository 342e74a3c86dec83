import ArgumentParser
import Reactor

// Value parsing shared by the subcommands.
//
// ArgumentParser reads a value that starts with "-" ("--drop -0.5", "--messages -5")
// as the next option and reports the option as missing its value. Numeric options
// are declared with `parsing: .unconditional`, so the next word is always their
// value, and with one of these transforms, which say what range is allowed.

/// A whole number for `option`, within `range` (the type's range by default).
func wholeNumber<T: FixedWidthInteger & Sendable>(_ option: String, _ range: ClosedRange<T> = T.min...T.max)
    -> @Sendable (String) throws -> T {
    { text in
        let allowed = "\(option) takes a whole number from \(range.lowerBound) to \(range.upperBound)"
        // T(text) fails for "-5" on an unsigned option, for a number too large, and for words.
        guard let value = T(text), range.contains(value) else { throw ValidationError("\(allowed); got '\(text)'") }
        return value
    }
}

/// A decimal number for `option`, within `range`.
func decimal(_ option: String, _ range: ClosedRange<Double>, unit: String = "") -> @Sendable (String) throws -> Double {
    { text in
        let allowed = "\(option) takes a number from \(fixedTrim(range.lowerBound)) to \(fixedTrim(range.upperBound))\(unit)"
        guard let value = Double(text), value.isFinite else { throw ValidationError("\(allowed); got '\(text)'") }
        guard range.contains(value) else { throw ValidationError("\(allowed); got \(text)") }
        return value
    }
}

/// 0.5 as "0.5", 1e9 as "1000000000" (no exponent in messages).
func fixedTrim(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e18 { return "\(Int64(value))" }
    return "\(value)"
}

/// A UDP port 0-65535 (0 where the kernel may choose).
func portNumber(_ option: String, allowZero: Bool = false) -> @Sendable (String) throws -> UInt16 {
    { text in
        guard let value = Int(text), (allowZero ? 0 : 1)...65_535 ~= value else {
            throw ValidationError("\(option) takes a port from \(allowZero ? 0 : 1) to 65535; got '\(text)'")
        }
        return UInt16(value)
    }
}

/// `--rerequest` and other HOST:PORT values: the host may be an address or a name
/// (resolved now, with getaddrinfo); each mistake named on its own.
func hostPort(_ option: String) -> @Sendable (String) throws -> String {
    { text in
        do {
            _ = try SocketAddress(resolving: text)
        } catch {
            throw ValidationError("\(option): \(error)")
        }
        return text
    }
}

extension IdleOption: CustomStringConvertible {
    /// The name it was given as (`block`), so help reads `(default: block)`.
    var description: String {
        switch strategy {
        case .block: return "block"
        case .spin: return "spin"
        case .yield: return "yield"
        case .backoff: return "backoff"
        }
    }

    var defaultValueDescription: String { description }

    /// One help line for every `--idle`: what each value does.
    static let help = ArgumentHelp(
        "How to wait when a cycle finds no work: block (sleep in the kernel), spin (poll again at once), "
            + "yield (sched_yield between polls) or backoff (spin, then yield, then park).")
}
