// TextSource.swift: where text enters a synthesis pipeline (a list, or lines of stdin).

import Foundation
import SSMAudio
#if canImport(Glibc)
import Glibc
#endif

/// Text to speak: a fixed list, or lines read from a file descriptor (stdin) as they arrive, so a
/// producer can feed sentences one at a time. Empty lines are skipped.
public final class TextSource: PipelineSource {
    enum Input { case texts([String]), lines(FileHandle) }
    let input: Input
    private let stopFlag = StopFlag()

    public init(texts: [String]) { input = .texts(texts) }
    public init(lines handle: FileHandle = .standardInput) { input = .lines(handle) }

    public func run(emit: (String, Double) -> Bool) throws {
        switch input {
        case .texts(let texts):
            for t in texts where !stopFlag.isSet {
                guard emit(t, 0) else { return }
            }
        case .lines(let handle):
            // One line at a time straight from the descriptor, so nothing waits for a buffer to fill.
            var pending = Data()
            while !stopFlag.isSet {
                let chunk = try Self.read(handle.fileDescriptor)
                if chunk.isEmpty { break }  // EOF
                pending.append(chunk)
                while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    if !line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { guard emit(line, 0) else { return } }
                }
            }
            let rest = String(decoding: pending, as: UTF8.self)
            if !rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { _ = emit(rest, 0) }
        }
    }

    public func stop() { stopFlag.set() }

    /// One read(2) of what is available (retrying EINTR); empty at end of file. A read error (a closed
    /// descriptor, a directory as stdin) is an `AudioError.readFailed` naming stdin, not a trap.
    static func read(_ fd: Int32) throws -> Data {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return Data(buffer[0..<n]) }
            if errno == EINTR { continue }
            throw AudioError.readFailed(path: "<stdin>", reason: String(cString: strerror(errno)))
        }
    }
}

