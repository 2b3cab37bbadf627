import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The one place that writes to stdout (results) and the one that writes to stderr (diagnostics).
///
/// * `out`: a reader that went away (EPIPE, `| head -1`) ends the program quietly with status 0; any
///   other write error (ENOSPC on `> /dev/full`, EBADF on `>&-`, EIO) prints one `error:` line and exits 1.
/// * `err` / `error`: never trap and never fail the program: a full or closed stderr loses the text,
///   the exit status stays the error's. `error` writes exactly one line (control characters escaped).
/// * A progress line (`ProgressLine`, stderr on a terminal) is cleared before anything else is written
///   to the terminal, so results and error lines start at column 0.
enum Console {
    /// Guards the writes and `progressShowing`, so a progress line and a result never interleave.
    private static let lock = Mutex<Void>(())
    /// A progress line is on the terminal (read by the signal handler, so atomic).
    static let progressShowing = Atomic<Bool>(false)

    static let stderrIsTerminal: Bool = isatty(STDERR_FILENO) == 1
    static let stdoutIsTerminal: Bool = isatty(STDOUT_FILENO) == 1

    /// Writes `s` to stdout, unbuffered. EPIPE: `_exit(0)` quietly; another error: one `error:` line and
    /// `_exit(1)`. `_exit`, not `exit`: other pipeline threads may still be inside OpenBLAS, whose atexit
    /// cleanup would free buffers under them (ThreadSanitizer caught that crash).
    static func out(_ s: String) {
        let failure: Int32? = lock.withLock { _ in
            if stdoutIsTerminal { clearProgressLocked() }
            return writeAll(STDOUT_FILENO, s)
        }
        guard let code = failure else { return }
        if code == EPIPE { _exit(0) }
        error("cannot write '<stdout>': \(String(cString: strerror(code)))")
        Interrupt.removeTemporaryFile()
        _exit(1)
    }

    /// Writes `s` to stderr. Errors are ignored: diagnostics must never change the outcome.
    static func err(_ s: String) {
        lock.withLock { _ in
            clearProgressLocked()
            _ = writeAll(STDERR_FILENO, s)
        }
    }

    /// One `error: …` line on stderr. Control characters in `message` (a newline in a file name, an
    /// escape sequence) are written as `\n`, `\r`, `\xHH`, so it stays one line.
    static func error(_ message: String) { err("error: \(oneLine(message))\n") }

    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out.unicodeScalars.append(u)
            default:
                if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\x%02X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// Shows `line` as the progress line (stderr, overwritten in place).
    static func showProgress(_ line: String) {
        lock.withLock { _ in
            _ = writeAll(STDERR_FILENO, "\r" + line + "\u{1B}[K")
            progressShowing.store(true, ordering: .relaxed)
        }
    }

    /// Removes the progress line, if one is showing.
    static func clearProgress() { lock.withLock { _ in clearProgressLocked() } }

    private static func clearProgressLocked() {
        guard progressShowing.load(ordering: .relaxed) else { return }
        _ = writeAll(STDERR_FILENO, "\r\u{1B}[K")
        progressShowing.store(false, ordering: .relaxed)
    }

    /// write(2) until done; returns the errno of a failure (EINTR is retried), nil on success.
    private static func writeAll(_ fd: Int32, _ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { p -> Int32? in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                off += n
            }
            return nil
        }
    }

    // MARK: - Process set-up

    /// Descriptors 0, 1 and 2 that were closed (`2>&-`) are taken by /dev/null, opened in the direction
    /// that fails: writing to a closed stdout stays an error (EBADF) and reading a closed stdin too, a
    /// closed stderr just loses diagnostics — and no file opened later (a WAV being written, a model) can
    /// land on descriptor 1 or 2 and receive text meant for the terminal.
    static func occupyClosedStandardDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let placeholder = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY)
            if placeholder >= 0 && placeholder != fd {
                _ = dup2(placeholder, fd)
                close(placeholder)
            }
        }
    }

    static func installSignalHandling() { Interrupt.install() }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT.
///
/// * By default (`transcribe`, `bench`, `synthesize`, and every command while it parses its flags):
///   the progress line is cleared, a half-written output file is removed, and the process ends by the
///   signal itself, as if it had not caught it: the shell reports 130 (SIGINT), 143 (SIGTERM), 129
///   (SIGHUP), and a shell loop over files stops at Ctrl-C. No crash report.
/// * `stream` while the model loads (`exitQuietly`): exit 0 at once (nothing has been read, so there is
///   nothing to flush). Once the graph runs (`onInterrupt`): the first SIGINT/SIGTERM ends the input
///   as if at EOF, so every stage flushes and the final result prints; a second one exits at once.
/// * SIGQUIT (Ctrl-\) always ends the process at once, by the signal, without a core file and without
///   the Swift runtime's crash report (it installs a handler for SIGQUIT; this one replaces it): 131.
enum Interrupt {
    private static let endByDefault: Int32 = 0, exitQuietlyMode: Int32 = 1, notifyMode: Int32 = 2
    private static let mode = Atomic<Int32>(0)
    private static let received = Atomic<Int>(0)
    private static let notifyWrite = Atomic<Int32>(-1)
    /// A temporary output file to remove if the process is interrupted or fails (strdup'ed C string).
    private static let temporaryFile = Atomic<UInt>(0) // bit pattern of the pointer (0: none)

    static func install() {
        signal(SIGPIPE, SIG_IGN) // a closed stdout is EPIPE on write, handled by Console.out
        // Touch every global the handler reads, so it never runs a lazy initialiser.
        _ = mode.load(ordering: .relaxed); _ = received.load(ordering: .relaxed)
        _ = notifyWrite.load(ordering: .relaxed); _ = temporaryFile.load(ordering: .relaxed)
        _ = Console.progressShowing.load(ordering: .relaxed)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = interruptHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
    }

    /// `stream` before its graph runs: SIGINT/SIGTERM exit 0 quietly.
    static func exitQuietly() { mode.store(exitQuietlyMode, ordering: .sequentiallyConsistent) }

    /// From now on the first SIGINT/SIGTERM calls `body` (on a thread started now, so that no thread
    /// has to be created when the signal comes, even when no more can be); a second exits at once.
    /// Call once.
    static func onInterrupt(_ body: @escaping () -> Void) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return } // no descriptors left: the default (end by the signal) stays
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC); _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        let readEnd = fds[0]
        let task = UncheckedBox(body)
        let thread = Thread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            task.value()
        }
        thread.name = "ssmspeech.signals"
        thread.stackSize = 512 << 10
        thread.start()
        notifyWrite.store(fds[1], ordering: .sequentiallyConsistent)
        mode.store(notifyMode, ordering: .sequentiallyConsistent)
    }

    /// Registers (or with nil, forgets) a temporary file to remove on interruption or failure.
    static func setTemporaryFile(_ path: String?) {
        let new = path.map { UInt(bitPattern: strdup($0)) } ?? 0
        let old = temporaryFile.exchange(new, ordering: .sequentiallyConsistent)
        free(UnsafeMutablePointer<CChar>(bitPattern: old))
    }

    /// Removes the registered temporary file (async-signal-safe: unlink only).
    static func removeTemporaryFile() {
        if let p = UnsafeMutablePointer<CChar>(bitPattern: temporaryFile.exchange(0, ordering: .sequentiallyConsistent)) { unlink(p) }
    }

    fileprivate static func handle(_ sig: Int32) {
        let savedErrno = errno
        defer { errno = savedErrno }
        if sig != SIGQUIT && sig != SIGHUP {
            switch mode.load(ordering: .sequentiallyConsistent) {
            case exitQuietlyMode:
                _exit(0)
            case notifyMode:
                if received.add(1, ordering: .sequentiallyConsistent).oldValue == 0 {
                    var byte = UInt8(truncatingIfNeeded: sig)
                    if write(notifyWrite.load(ordering: .sequentiallyConsistent), &byte, 1) == 1 { return }
                }
                _exit(128 + sig) // a second signal: at once (threads still run: no atexit handlers)
            default:
                break
            }
        }
        // End by the signal: tidy the terminal and the file system first (async-signal-safe calls only).
        if Console.progressShowing.load(ordering: .relaxed) {
            let clear: [UInt8] = [0x0D, 0x1B, 0x5B, 0x4B] // "\r\e[K"
            _ = clear.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        removeTemporaryFile()
        if sig == SIGQUIT {
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            _ = getrlimit(Int32(RLIMIT_CORE.rawValue), &none)
            none.rlim_cur = 0
            _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none) // "without a core file"
        }
        signal(sig, SIG_DFL)
        raise(sig) // delivered when the handler returns (the signal is blocked while it runs)
    }
}

private let interruptHandler: @convention(c) (Int32) -> Void = { Interrupt.handle($0) }

/// Hands a value that is used on one other thread only to that thread.
private final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Living under an address-space limit (`ulimit -v`, RLIMIT_AS).
///
/// Running out of address space cannot be handled where it happens: the Swift runtime traps when an
/// allocation fails ("Fatal error: failed to allocate …", a crash report, status 134), libdispatch
/// waits forever for a worker thread it cannot create, and OpenBLAS retries a buffer it cannot map
/// forever. So the commands check before each phase that the room it needs is there
/// (`require`) and otherwise print one `error: not enough memory …` line and exit 1; and the
/// process asks for less: one malloc arena instead of one per thread (each reserves 64 MB), and
/// thread stacks of 2 MB instead of RLIMIT_STACK's 8 MB (the main thread keeps its own).
enum AddressSpace {
    /// The soft RLIMIT_AS in bytes, nil if unlimited.
    static let limit: UInt64? = {
        var r = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &r) == 0, r.rlim_cur != rlim_t.max else { return nil }
        return UInt64(r.rlim_cur)
    }()

    /// Stack size of the threads created from now on (Dispatch workers).
    nonisolated(unsafe) private(set) static var threadStack = 8 << 20

    static func adaptToLimit() {
        var stack = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_STACK.rawValue), &stack) == 0, stack.rlim_cur != rlim_t.max {
            threadStack = Int(stack.rlim_cur)
        }
        guard limit != nil else { return }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if let mallopt = dlsym(nil, "mallopt") { // not in the Glibc module; nil handle = RTLD_DEFAULT
            _ = unsafeBitCast(mallopt, to: Mallopt.self)(-8 /* M_ARENA_MAX */, 1)
        }
        typealias SetDefault = @convention(c) (UnsafePointer<pthread_attr_t>) -> Int32
        if threadStack > 2 << 20, let setDefault = dlsym(nil, "pthread_setattr_default_np") {
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            if pthread_attr_setstacksize(&attr, 2 << 20) == 0 && unsafeBitCast(setDefault, to: SetDefault.self)(&attr) == 0 {
                threadStack = 2 << 20
            }
            pthread_attr_destroy(&attr)
        }
    }

    /// Address space mapped now (VmSize), in bytes.
    static var inUse: UInt64 {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmSize:") }),
              let kB = UInt64(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kB * 1024
    }

    /// Under a limit, exits with one `error: not enough memory …` line (status 1) unless `bytes` more
    /// can be mapped now. `what`: what the room is for ("loading the model", "transcribe").
    static func require(_ bytes: Int, for what: String) {
        guard let limit else { return }
        let p = mmap(nil, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if p != MAP_FAILED {
            munmap(p, bytes)
            return
        }
        let needed = (inUse + UInt64(bytes) + 1023) / 1024
        Console.error("not enough memory for \(what): the address-space limit (ulimit -v) is \(limit / 1024) kB, "
                      + "about \(needed) kB are needed")
        exit(1)
    }

    /// OpenBLAS's work buffer (128 MB of address space, mapped by each thread that runs a product big
    /// enough to need it: float32 weights, synthesis, and every extra `--threads` thread) and a stack.
    static var blasBuffer: Int { (128 << 20) + threadStack }

    /// What a recognition command needs beyond what is mapped when it starts (the libraries, ≈ 130 MB):
    /// loading the model and LM (≈ 40 MB for the shipped ones; a bigger model needs more, and may still
    /// trap while loading), the stacks of the graph's threads, and OpenBLAS buffers. Measured minimum
    /// limits (debug build, shipped model, 2 MB stacks): transcribe ≈ 183 MB, stream ≈ 188 MB.
    static func recognitionRoom(graphThreads: Int, float32: Bool, blasThreads: Int, jobs: Int = 1) -> Int {
        (40 << 20) + graphThreads * threadStack + (float32 ? jobs * blasBuffer : 0) + max(0, blasThreads - 1) * blasBuffer
    }
}

/// A one-line progress display on stderr, shown only when stderr is a terminal and there are several
/// files; cleared before every result and error line (Console), and when the last file is done.
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
        if done >= total { Console.clearProgress(); return }
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let name = Console.oneLine(String((label as NSString).lastPathComponent.prefix(40)))
        Console.showProgress("[\(bar)] \(done)/\(total) \(name)")
    }
}

/// The command line as given, byte for byte.
///
/// `CommandLine.arguments` turns bytes that are not UTF-8 into U+FFFD, so such a file name could not be
/// opened. Here an argument that is not valid UTF-8 is shown with each such byte as `\xHH` (that is the
/// string the flags parser and the output see), and `bytes(of:)` gives the original bytes back for
/// opening the file.
enum CommandLineArguments {
    /// Arguments after the program name, as strings.
    static let strings: [String] = decoded.map(\.0)
    /// Shown string → original bytes, for the arguments that are not valid UTF-8.
    private static let raw: [String: [UInt8]] = Dictionary(decoded.compactMap { s, b in b.map { (s, $0) } }, uniquingKeysWith: { a, _ in a })

    private static let decoded: [(String, [UInt8]?)] = (1..<Int(CommandLine.argc)).map { i in
        guard let p = CommandLine.unsafeArgv[i] else { return ("", nil) }
        let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
        if let s = String(validating: bytes, as: UTF8.self) { return (s, nil) }
        return (escapingInvalidUTF8(bytes), bytes)
    }

    /// The original bytes of `argument` if it was not valid UTF-8 (nil otherwise: the string is exact).
    static func bytes(of argument: String) -> [UInt8]? { raw[argument] }

    /// Valid UTF-8 sequences as they are, every other byte as `\xHH`.
    static func escapingInvalidUTF8(_ bytes: [UInt8]) -> String { escaping(bytes) { _ in nil } }

    /// `bytes` as text: each byte for which `special` gives a replacement is written as that, then valid
    /// UTF-8 sequences as they are and every other byte as `\xHH`. The one escaper of the command line
    /// (file names in messages, `tsv` fields).
    static func escaping(_ bytes: [UInt8], special: (UInt8) -> String?) -> String {
        var out = "", i = 0
        while i < bytes.count {
            let b = bytes[i]
            if let r = special(b) { out += r; i += 1; continue }
            let n = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            if n > 0, i + n <= bytes.count, let s = String(validating: bytes[i..<(i + n)], as: UTF8.self) {
                out += s
                i += n
            } else {
                out += String(format: "\\x%02X", b)
                i += 1
            }
        }
        return out
    }
}
