#if canImport(Glibc)
import Glibc
#endif

/// A capture file mapped read-only into memory: records are views into the
/// mapping, so reading copies nothing (a 300 MB capture costs page faults,
/// not a 300 MB allocation).
///
/// ```swift
/// let file = try CaptureFile(path: "feed.pcap")
/// var reader = try CaptureReader(file.bytes)
/// ```
public final class CaptureFile {
    /// The path the file was opened from.
    public let path: String
    /// The whole file. Valid until the `CaptureFile` is released.
    public let bytes: UnsafeRawBufferPointer

    /// Opens `path` and maps it read-only (`mmap`); the mapping is released with the object.
    ///
    /// - Throws: `CaptureError.io` naming the failed call (`open`, `fstat`, `mmap`) and its errno.
    public init(path: String) throws(CaptureError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .io(path: path, operation: "fstat", errno: errno) }
        let size = Int(status.st_size)
        guard size > 0 else { throw .truncated(offset: 0, needed: 24, available: 0) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw .io(path: path, operation: "mmap", errno: errno)
        }
        // Sequential reads: let the kernel read ahead aggressively.
        _ = madvise(base, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        // Safety: the mapping was created in init with this base and length.
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }
}
