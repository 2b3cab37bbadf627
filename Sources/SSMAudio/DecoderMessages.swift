// DecoderMessages.swift: what decoder libraries write to stderr themselves (libmpg123 under libsndfile),
// caught and turned into one warning or error line instead of being passed through raw.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where SSMAudio's warnings go: a file that decoded with complaints from its decoder (damaged data that
/// was skipped) is not an error, but the listener should know. One line per warning, naming the file.
public enum AudioWarnings {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var _handler: @Sendable (String) -> Void = { line in
        let bytes = Array("warning: \(line)\n".utf8)
        bytes.withUnsafeBytes { var off = 0; while off < $0.count { let n = write(2, $0.baseAddress! + off, $0.count - off); if n <= 0 { break }; off += n } }
    }

    /// Called with each warning (one line, without a `warning: ` prefix or newline). The default writes
    /// `warning: LINE` to stderr.
    public static var handler: @Sendable (String) -> Void {
        get { lock.withLock { _handler } }
        set { lock.withLock { _handler = newValue } }
    }

    static func emit(_ line: String) { handler(line) }
}

/// Runs code with file descriptor 2 pointed at a private temporary file, and returns what was written
/// there: libsndfile's MP3 decoder (libmpg123) prints its complaints to stderr itself, with no option
/// that libsndfile passes on to silence them or hand them back.
///
/// One capture at a time in the process (a lock). Lines that are not a decoder's (another thread's
/// `error:` line written during the capture) are written on to the real stderr afterwards.
enum StderrCapture {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var file: UnsafeMutablePointer<FILE>?
    nonisolated(unsafe) private static var unavailable = false
    /// Largest amount of captured text looked at per capture.
    private static let maxBytes = 16_384

    /// `body`'s result, and the decoder lines it wrote to stderr (without their `[file:function():line]`
    /// and level prefixes), each marked as an error or not.
    static func run<T>(_ body: () throws -> T) rethrows -> (T, [(text: String, isError: Bool)]) {
        lock.lock()
        defer { lock.unlock() }
        if file == nil && !unavailable {
            file = tmpfile()
            unavailable = file == nil
        }
        guard let file else { return (try body(), []) }
        let capture = fileno(file)
        fflush(nil)
        let saved = dup(2)
        guard saved >= 0, ftruncate(capture, 0) == 0, lseek(capture, 0, SEEK_SET) == 0, dup2(capture, 2) == 2 else {
            if saved >= 0 { _ = close(saved) }
            return (try body(), [])
        }
        func restore() -> String {
            fflush(nil)
            _ = dup2(saved, 2)
            _ = close(saved)
            let size = min(Int(lseek(capture, 0, SEEK_CUR)), maxBytes)
            guard size > 0 else { return "" }
            var bytes = [UInt8](repeating: 0, count: size)
            let n = bytes.withUnsafeMutableBytes { pread(capture, $0.baseAddress, size, 0) }
            return String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
        }
        let result: T
        do { result = try body() } catch { _ = restore(); throw error }
        let text = restore()
        guard !text.isEmpty else { return (result, []) }
        var decoder: [(text: String, isError: Bool)] = []
        var others = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let m = decoderLine(line) { decoder.append(m) } else { others += line + "\n" }
        }
        if !others.isEmpty {
            let bytes = Array(others.utf8)
            bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
        return (result, decoder)
    }

    /// libmpg123's lines: `[src/libmpg123/layer3.c:III_get_side_info():202] error: big_values too large!`
    /// and `Note: Illegal Audio-MPEG-Header 0x… at offset 2592.`, without their prefixes; nil for other text.
    static func decoderMessage<S: StringProtocol>(_ line: S) -> String? { decoderLine(line)?.text }

    static func decoderLine<S: StringProtocol>(_ line: S) -> (text: String, isError: Bool)? {
        var s = Substring(line)
        if s.hasPrefix("["), let close = s.firstIndex(of: "]"), s[..<close].contains("mpg123") {
            s = s[s.index(after: close)...].drop(while: { $0 == " " })
            var isError = true
            for level in ["error: ", "warning: ", "note: "] where s.lowercased().hasPrefix(level) {
                s = s.dropFirst(level.count)
                isError = level == "error: "
            }
            return (String(s), isError)
        }
        for level in ["Note: ", "Warning: ", "Error: "] where s.hasPrefix(level) {
            return (String(s.dropFirst(level.count)), level == "Error: ")
        }
        return nil
    }
}
