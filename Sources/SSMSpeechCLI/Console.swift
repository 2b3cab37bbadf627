import Foundation

/// Terminal I/O helpers: results to stdout, diagnostics to stderr, a closed stdout ends quietly.
enum Console {
    static func installSignalHandling() {
        // A closed stdout (`| head -1`) must end the program quietly: handle EPIPE on write instead of dying.
        signal(SIGPIPE, SIG_IGN)
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Writes `s` to stdout (unbuffered); exits 0 at once, quietly, if stdout has been closed.
    static func out(_ s: String) {
        var bytes = Array(s.utf8)
        let ok = bytes.withUnsafeMutableBytes { p -> Bool in
            var off = 0
            while off < p.count {
                let n = write(STDOUT_FILENO, p.baseAddress! + off, p.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        // `_exit`, not `exit`: other pipeline threads may still be inside OpenBLAS, whose atexit
        // cleanup would free buffers under them (ThreadSanitizer caught that crash).
        if !ok { _exit(0) }
    }

    static func err(_ s: String) { FileHandle.standardError.write(s.data(using: .utf8)!) }

    /// One `error: …` line on stderr.
    static func error(_ message: String) { err("error: \(message)\n") }
}

/// A one-line progress display on stderr, shown only when stderr is a terminal.
final class ProgressLine {
    private let total: Int
    private var done = 0
    private let enabled: Bool
    private let lock = NSLock()

    init(total: Int, enabled: Bool = Console.stderrIsTerminal) {
        self.total = total
        self.enabled = enabled && total > 1
    }

    func advance(_ label: String) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        guard enabled else { return }
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        Console.err("\r[\(bar)] \(done)/\(total) \((label as NSString).lastPathComponent.prefix(40))\u{1B}[K")
        if done == total { Console.err("\n") }
    }
}
