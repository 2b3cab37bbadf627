// FileDescriptorSource.swift: read bytes from stdin (or any descriptor) as they arrive.

import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Delivers the bytes of a file descriptor (stdin by default) as they arrive, using `DispatchIO`.
///
/// Chunks are handed over as soon as any bytes are available (low-water mark 1), so a slow producer
/// is not delayed; bursts arrive as larger chunks. After the last chunk, `onEnd` is called exactly once,
/// with `nil` at end of file or with ``AudioError/readFailed(path:reason:)``. The descriptor is not
/// closed.
///
/// ```swift
/// let source = FileDescriptorSource.standardInput()
/// source.start(queue: q, onData: { bytes in try? input.feed(bytes) }, onEnd: { error in … })
/// ```
public final class FileDescriptorSource {
    /// The descriptor read from.
    public let fileDescriptor: Int32
    /// Name used in errors (e.g. "<stdin>").
    public let name: String
    /// Largest chunk delivered at once.
    public let maxChunkBytes: Int

    private var channel: DispatchIO?

    public init(fileDescriptor: Int32, name: String, maxChunkBytes: Int = 64 * 1024) {
        self.fileDescriptor = fileDescriptor
        self.name = name
        self.maxChunkBytes = max(1, maxChunkBytes)
    }

    /// A source for file descriptor 0.
    public static func standardInput(maxChunkBytes: Int = 64 * 1024) -> FileDescriptorSource {
        FileDescriptorSource(fileDescriptor: 0, name: "<stdin>", maxChunkBytes: maxChunkBytes)
    }

    /// Starts reading. `onData` receives each chunk (the buffer is valid only during the call);
    /// `onEnd` is called once after the last chunk. Both run on `queue`, in order.
    public func start(queue: DispatchQueue,
                      onData: @escaping (UnsafeRawBufferPointer) -> Void,
                      onEnd: @escaping (AudioError?) -> Void) {
        precondition(channel == nil, "FileDescriptorSource.start called twice")
        let name = self.name
        let io = DispatchIO(type: .stream, fileDescriptor: fileDescriptor, queue: queue) { _ in }
        io.setLimit(lowWater: 1)
        io.setLimit(highWater: maxChunkBytes)
        channel = io
        var ended = false
        io.read(offset: 0, length: Int.max, queue: queue) { [weak self] done, data, error in
            if let data, !data.isEmpty {
                data.enumerateBytes { region, _, _ in onData(UnsafeRawBufferPointer(region)) }
            }
            guard done, !ended else { return }
            ended = true
            self?.channel?.close()
            self?.channel = nil
            // ECANCELED is our own cancel(): report it as an ordinary end.
            if error != 0 && error != ECANCELED {
                onEnd(AudioError.readFailed(path: name, reason: errnoDescription(error)))
            } else {
                onEnd(nil)
            }
        }
    }

    /// Stops reading; `onEnd(nil)` follows.
    public func cancel() {
        channel?.close(flags: .stop)
    }

    /// Reads the descriptor to its end on the calling thread with `read(2)` (retrying `EINTR`),
    /// passing each chunk to `body`. A simpler alternative to `start` for batch use and tests.
    public static func readAll(fileDescriptor: Int32, name: String, chunkBytes: Int = 64 * 1024,
                               body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: max(1, chunkBytes))
        while true {
            let got = buffer.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw AudioError.readFailed(path: name, reason: errnoDescription())
            }
            if got == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
        }
    }
}
