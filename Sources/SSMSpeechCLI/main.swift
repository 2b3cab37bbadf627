import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `ssmspeech`: streaming speech recognition with state-space models. Commands and output formats: README.md, "Using it".
struct SSMSpeech: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssmspeech",
        abstract: "Streaming speech recognition and synthesis with state-space models (S4D, Mamba).",
        discussion: """
            Results go to stdout; progress and diagnostics to stderr. Errors print one 'error: …' line. \
            A file name that starts with '-' goes after '--' (or is written ./-name). SIGINT/SIGTERM end \
            transcribe, synthesize and bench by the signal (status 130/143; a half-written -o file is \
            removed); stream flushes its final result and exits 0. SIGQUIT ends any command at once (131).
            """,
        subcommands: [Transcribe.self, Stream.self, Synthesize.self, Bench.self, Serve.self])
}

// 1. OpenBLAS starts its thread pool in its library constructor, before this code runs, with one
// thread per core unless OPENBLAS_NUM_THREADS says otherwise: on a 16-core machine 15 idle threads,
// each with an 8 MB stack and a 128 MB buffer of address space, and under an address-space limit
// (`ulimit -v`) a thread whose buffer cannot be mapped retries forever (100 % CPU, and exit waits for
// it). So the program starts itself again once with a pool of one; `--threads N` grows it to N
// (`Compute.setThreads`). A user's own OPENBLAS_NUM_THREADS is left alone (no re-exec).
#if os(Linux)
if getenv("OPENBLAS_NUM_THREADS") == nil {
    setenv("OPENBLAS_NUM_THREADS", "1", 1)
    // The file itself, not /proc/self/exe, so that the process keeps its name (ps, pgrep, top).
    var exe = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    if readlink("/proc/self/exe", &exe, Int(PATH_MAX)) > 0 {
        execv(exe, CommandLine.unsafeArgv)
    }
    // No /proc: carry on with OpenBLAS's default pool.
}
#endif

// 2. Under an address-space limit (`ulimit -v`): fewer malloc arenas and smaller thread stacks.
AddressSpace.adaptToLimit()

Console.occupyClosedStandardDescriptors()
// `stream` exits 0 on SIGINT/SIGTERM until its graph runs: decided before any handler exists, so that
// no signal can arrive between the handlers and the command's own setup (seen under AddressSanitizer).
if CommandLine.arguments.dropFirst().first == "stream" { Interrupt.exitQuietly() }
Console.installSignalHandling()

// Like ParsableCommand.main(), but a usage error is one `error: …` line, not a usage dump; arguments
// are taken byte for byte (CommandLineArguments), and help goes through Console.out like any result.
let arguments = CommandLineArguments.strings

/// An argument before `--` that starts with one '-' and is not a number: ArgumentParser reads it as a
/// cluster of short flags (`-dash.wav` = -d -a -s -h …: help, exit 0). Nil if there is none.
func dashWord(_ args: [String]) -> String? {
    for a in args.prefix(while: { $0 != "--" }) where a.count > 2 && a.hasPrefix("-") && !a.hasPrefix("--") && Double(a) == nil {
        return a
    }
    return nil
}

func dashWordMessage(_ word: String) -> String {
    if FileManager.default.fileExists(atPath: word) {
        return "'\(word)' is read as options; to name a file that starts with '-', write ./\(word) or put it after --"
    }
    return "unknown option '\(word)' (an argument that starts with '-' goes after --)"
}

/// Under `ulimit -v`: one `error: not enough memory …` line now, rather than a trap or a hang later
/// (AddressSpace). Before anything is loaded and before OpenBLAS grows its pool to `--threads`.
func requireAddressSpace(for command: ParsableCommand) {
    guard AddressSpace.limit != nil else { return }
    switch command {
    case let c as Transcribe:
        AddressSpace.require(AddressSpace.recognitionRoom(graphThreads: 3 + 4 * c.jobs, float32: c.options.precision == .float32,
                                                          blasThreads: c.blas.threads, jobs: c.jobs), for: "transcribe")
    case let c as Stream:
        AddressSpace.require(AddressSpace.recognitionRoom(graphThreads: 10, float32: c.options.precision == .float32,
                                                          blasThreads: c.blas.threads), for: "stream")
    case let c as Bench:
        AddressSpace.require(AddressSpace.recognitionRoom(graphThreads: 7, float32: c.options.precision == .float32,
                                                          blasThreads: c.blas.threads), for: "bench")
    case let c as Synthesize:
        // The voice (≈ 24 MB for the shipped one), 6 threads, and OpenBLAS's buffer for the decoder's SGEMMs.
        AddressSpace.require((32 << 20) + 6 * AddressSpace.threadStack + c.threads * AddressSpace.blasBuffer, for: "synthesize")
    default:
        break
    }
}

if let word = dashWord(arguments), FileManager.default.fileExists(atPath: word) {
    Console.error(dashWordMessage(word))
    exit(ExitCode.validationFailure.rawValue)
}
do {
    var command = try SSMSpeech.parseAsRoot(arguments)
    requireAddressSpace(for: command)
    try command.run()
} catch {
    let code = SSMSpeech.exitCode(for: error)
    let askedForHelp = arguments.prefix(while: { $0 != "--" }).contains { ["-h", "--help", "help"].contains($0) }
    if code == .success, !askedForHelp, let word = dashWord(arguments) {
        Console.error(dashWordMessage(word)) // help was "asked for" by an 'h' inside a dash-word
        exit(ExitCode.validationFailure.rawValue)
    } else if code == .success {
        Console.out(SSMSpeech.fullMessage(for: error) + "\n") // --help: full text on stdout
        exit(0)
    } else if error is ExitCode {
        exit(code.rawValue) // the command already printed its error line
    } else {
        let message = SSMSpeech.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        Console.error(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
        exit(code.rawValue)
    }
}
