// `scripts/undocumented.py --self-test` builds this and expects exactly the
// declarations marked UNDOCUMENTED to be reported: not the documented ones, nor
// `public` inside strings, comments, internal types or local declarations.

/// Documented, with attributes between the comment and the declaration.
@inlinable
@discardableResult
public func documented() -> Int { 1 }

/**
 A block doc comment,
 over several lines.
 */
public struct Documented {
    /// Documented member.
    public var value = "public var inString: Int"  // public var inComment: Int
    public var undocumentedMember = 0  // UNDOCUMENTED
    var internalMember = 0
    /* public func inBlockComment() {} */
    /// Documented; the local declaration inside is not public API.
    public func method() {
        struct Local { public var x = 0 }
        _ = Local()
    }
}

public func undocumentedFunction() {}  // UNDOCUMENTED

/// - Parameters:
///   - value: a parameter list alone is no summary.
public func onlyParameters(value: Int) {}  // UNDOCUMENTED

/// A summary, then the parameters.
///
/// - Parameters:
///   - value: documented.
public func summaryAndParameters(value: Int) {}

// A plain comment is not documentation.
public let undocumentedAfterPlainComment = 0  // UNDOCUMENTED

/// Documented protocol.
public protocol Requirements {
    func requirement()  // UNDOCUMENTED
    /// Documented requirement.
    func documentedRequirement()
}

/// Documented enum.
public enum Cases {
    case undocumentedCase  // UNDOCUMENTED
    /// Documented case.
    case documentedCase
}

public extension Documented {
    func implicitlyPublic() {}  // UNDOCUMENTED
    private func privateMember() {}
}

extension Documented: CustomStringConvertible {
    public var description: String { "" }  // UNDOCUMENTED
}

struct InternalType {
    public func publicInInternal() {}
}

let text = """
    public func inMultilineString() {}
    """
