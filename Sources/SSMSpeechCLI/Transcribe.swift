import ArgumentParser
import Dispatch
import Foundation
import SSMPipeline
import SSMSpeech

extension OutputFormat: ExpressibleByArgument {}

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transcribe audio files (any format libsndfile reads, any rate ≥ 8 kHz, any channel count).",
        discussion: """
            Each file is decoded, mixed to mono, resampled to 16 kHz and run through the streaming encoder \
            exactly as `stream` would. Results are printed in argument order. A file that cannot be read \
            prints an error line naming it; the others are still transcribed and the exit status is 1. \
            A file name that starts with '-' goes after '--' (or is written ./-name); a name that is not \
            UTF-8 is opened as given and shown with those bytes as \\xHH. SIGINT/SIGTERM stop at once (the \
            results already printed stay): the process ends by the signal, so the shell's status is \
            130/143 and a shell loop stops too. A stdout that cannot be written (a full disk) is an error line and \
            status 1; a reader that went away (`| head -1`) ends the program quietly with status 0.
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var blas: BLASThreadsOption

    @Option(name: .long, help: ArgumentHelp(
        "Output format: text, tsv, json (JSON Lines), srt or vtt.",
        discussion: "tsv: PATH<TAB>TRANSCRIPT per file; a backslash, tab, newline or carriage return in either field is written \\\\, \\t, \\n, \\r, another control character or a byte that is not UTF-8 \\xHH."))
    var format: OutputFormat = .text

    @Option(name: .long, parsing: .unconditional, help: "Files transcribed in parallel.")
    var jobs: Int = 1

    @Argument(help: "Audio files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one audio file") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let recognizer = try options.load(blasThreads: blas.threads)
        let printer = OrderedPrinter(files: files, format: format)
        let files = self.files
        let work: @Sendable (Int) -> Void = { i in
            let result = Result { () -> (Transcript, Double) in
                try Self.openingRawName(files[i]) { path in
                    let start = DispatchTime.now().uptimeNanoseconds
                    let t = try RecognitionGraph.transcribe(source: FileAudioSource(path: path), recognizer: recognizer)
                    let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    return (t, t.duration > 0 ? wall / t.duration : 0)
                }
            }
            printer.deliver(i, result)
        }
        if jobs == 1 {
            for i in files.indices { work(i) }
        } else {
            let queue = DispatchQueue(label: "ssmspeech.transcribe", attributes: .concurrent)
            let group = DispatchGroup()
            let slots = DispatchSemaphore(value: jobs)
            for i in files.indices {
                slots.wait()
                queue.async(group: group) { work(i); slots.signal() }
            }
            group.wait()
        }
        let failed = printer.failed
        if failed { throw ExitCode(1) }
    }

    /// Runs `body` with a path that opens `name`. A name that was not UTF-8 on the command line (shown
    /// with `\xHH`) is opened from its original bytes and handed over as /proc/self/fd/N; errors that
    /// mention that path get the shown name instead.
    static func openingRawName<T>(_ name: String, _ body: (String) throws -> T) throws -> T {
        guard let bytes = CommandLineArguments.bytes(of: name) else { return try body(name) }
        let fd = (bytes + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        }
        guard fd >= 0 else {
            throw AudioError.cannotOpen(path: name, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let path = "/proc/self/fd/\(fd)"
        do {
            return try body(path)
        } catch {
            throw RenamedError(description: "\(error)".replacingOccurrences(of: path, with: name))
        }
    }
}

/// An error whose message had a stand-in path replaced by the name the user gave.
struct RenamedError: Error, CustomStringConvertible { let description: String }

/// Prints each file's result (or error line) in argument order as soon as all earlier files are done;
/// files finish in any order on any thread.
final class OrderedPrinter: @unchecked Sendable {
    // @unchecked: every mutable field is read and written under `lock`.
    private let files: [String]
    private let format: OutputFormat
    private let progress: ProgressLine
    private let lock = NSLock()
    private var results: [Result<(Transcript, Double), Error>?]
    private var nextToPrint = 0
    private var anyFailed = false

    init(files: [String], format: OutputFormat) {
        self.files = files
        self.format = format
        progress = ProgressLine(total: files.count)
        results = Array(repeating: nil, count: files.count)
    }

    var failed: Bool { lock.lock(); defer { lock.unlock() }; return anyFailed }

    func deliver(_ i: Int, _ result: Result<(Transcript, Double), Error>) {
        lock.lock(); defer { lock.unlock() }
        results[i] = result
        defer { progress.advance(files[i]) } // after the results: Console clears the line before each
        while nextToPrint < files.count, let r = results[nextToPrint] {
            switch r {
            case .success(let (t, rtf)):
                let file = files[nextToPrint]
                Console.out(TranscriptFormatter.render(format, file: file, fileBytes: CommandLineArguments.bytes(of: file),
                                                       transcript: t, rtf: rtf))
            case .failure(let e):
                anyFailed = true
                // Audio errors already name the file; others get it prefixed.
                let message = "\(e)"
                Console.error(message.contains(files[nextToPrint]) ? message : "\(files[nextToPrint]): \(message)")
            }
            results[nextToPrint] = nil  // printed: free the transcript
            nextToPrint += 1
        }
    }
}
