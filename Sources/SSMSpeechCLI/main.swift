import ArgumentParser
import Foundation

/// `ssmspeech`: streaming speech recognition with state-space models. Commands and output formats: README.md, "Using it".
struct SSMSpeech: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssmspeech",
        abstract: "Streaming speech recognition and synthesis with state-space models (S4D, Mamba).",
        discussion: "Results go to stdout; progress and diagnostics to stderr. Errors print one 'error: …' line.",
        subcommands: [Transcribe.self, Stream.self, Synthesize.self, Bench.self])
}

Console.installSignalHandling()
// Like ParsableCommand.main(), but a usage error is one `error: …` line, not a usage dump.
do {
    var command = try SSMSpeech.parseAsRoot()
    try command.run()
} catch {
    let code = SSMSpeech.exitCode(for: error)
    if code == .success {
        SSMSpeech.exit(withError: error) // --help, --version: full text on stdout
    } else if error is ExitCode {
        exit(code.rawValue) // the command already printed its error line
    } else {
        let message = SSMSpeech.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        Console.error(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
        exit(code.rawValue)
    }
}
