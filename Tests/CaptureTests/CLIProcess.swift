import Foundation
import TestSupport

/// A `feedreactor` child process with its stdout and stderr going to files
/// (so a long --print output never blocks on a full pipe).
final class CLIProcess {
    /// The `feedreactor` built next to this test bundle.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("feedreactor")
    }
    static var binaryExists: Bool { FileManager.default.isExecutableFile(atPath: binary.path) }

    let process = ChildProcess()
    let stdoutFile: URL
    let stderrFile: URL

    init(_ arguments: [String]) throws {
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("fr-capture-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        stdoutFile = base.appendingPathExtension("out")
        stderrFile = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = Self.binary
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: stdoutFile)
        try? FileManager.default.removeItem(at: stderrFile)
    }

    var outputText: String { WiresharkCapture.text(stdoutFile) }
    var errorText: String { WiresharkCapture.text(stderrFile) }
    var summary: String { errorText.split(separator: "\n").last.map(String.init) ?? "" }

    /// Waits (bounded) until stderr contains `text`.
    func waitFor(_ text: String, seconds: Double) -> Bool {
        WiresharkCapture.poll(seconds: seconds, while: { self.process.isRunning }, until: { self.errorText.contains(text) })
    }

    /// Waits (bounded) for the exit; nil (and the process killed) when it did not end in time.
    func finish(seconds: Double) -> Int32? {
        _ = WiresharkCapture.poll(seconds: seconds, while: { true }, until: { !self.process.isRunning })
        if process.isRunning { process.terminate(); process.waitUntilExit(); return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs to completion.
    static func run(_ arguments: [String], seconds: Double = 60) throws -> (status: Int32?, process: CLIProcess) {
        let child = try CLIProcess(arguments)
        return (child.finish(seconds: seconds), child)
    }
}
