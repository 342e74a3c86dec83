import Foundation

extension Pipe {
    /// Reads until the first newline (or end of file): the line a child prints once
    /// it is ready. Bounded by the child, which ends by itself or is killed by the test.
    func readFirstLine() -> String {
        var text = ""
        while !text.contains("\n") {
            let data = fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        return text
    }
}
