import ArgumentParser
import Dispatch
import Foundation
import SSMServer
import SSMSpeech

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve streaming recognition (WebSocket), transcription and speech (HTTP) to many clients.",
        discussion: """
            Endpoints: WebSocket /v1/stream (a JSON config message, then binary PCM; the replies are the \
            JSON lines of `stream --json`), POST /v1/audio/transcriptions (multipart upload, OpenAI-style), \
            POST /v1/audio/speech (JSON {"input": …}, returns WAV as it is produced), GET /health, GET \
            /metrics (Prometheus). The protocol, limits and close codes: Docs/SERVER.md. All streams run \
            through --threads engine loops that step the ready streams together (batched). \
            SIGTERM/SIGINT: stop accepting, flush the finals of open streams (close code 1001), exit 0. \
            Prints 'listening on http://HOST:PORT' to stderr when ready.
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Address to listen on (0.0.0.0: every interface).")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "TCP port, \(RangeCheck.text(ServerOptions.ports)) (0: any free port, printed when ready).")
    var port: Int = 8080

    @Option(name: .long, help: "Voice for /v1/audio/speech: name (a folder under Resources/voices) or path (default: the default voice if there is one).")
    var voice: String?

    @Option(name: .long, help: "Streams open at once, \(RangeCheck.text(ServerOptions.streamCounts)); a connection beyond them gets an error message and close code 1013.")
    var maxStreams: Int = ServerOptions().maxStreams

    @Option(name: .long, help: "Engine loops (threads) that run the streams, \(RangeCheck.text(ServerOptions.threadCounts)); each batches its share of the streams (default: one per core).")
    var threads: Int = ServerOptions().threads

    @Option(name: .long, help: "Fewest streams with a frame ready that are stepped together as one batch (matrix × matrix), 2…128; fewer are stepped one by one (default: 8 for int8 weights, 4 for float32).")
    var batchMinStreams: Int?

    @Option(name: .long, help: "Largest WebSocket message a client may send, in bytes, \(RangeCheck.text(ServerOptions.messageBytes)).")
    var maxMessageBytes: Int = ServerOptions().maxMessageBytes

    @Option(name: .long, help: "Largest HTTP request body (an upload), in bytes, \(RangeCheck.text(ServerOptions.uploadBytes)).")
    var maxUploadBytes: Int = ServerOptions().maxUploadBytes

    @Option(name: .long, parsing: .unconditional, help: "Seconds a stream may go without a client message before it is closed, \(RangeCheck.text(ServerOptions.idleSeconds)).")
    var idleTimeout: Double = ServerOptions().idleTimeout

    @Option(name: .long, help: "Longest text /v1/audio/speech speaks, in characters, \(RangeCheck.text(ServerOptions.textCharacters)).")
    var maxTextChars: Int = ServerOptions().maxTextCharacters

    func validate() throws {
        if let p = RangeCheck.problem("--port", port, ServerOptions.ports)
            ?? RangeCheck.problem("--max-streams", maxStreams, ServerOptions.streamCounts)
            ?? RangeCheck.problem("--threads", threads, ServerOptions.threadCounts)
            ?? RangeCheck.problem("--max-message-bytes", maxMessageBytes, ServerOptions.messageBytes)
            ?? RangeCheck.problem("--max-upload-bytes", maxUploadBytes, ServerOptions.uploadBytes)
            ?? RangeCheck.problem("--idle-timeout", idleTimeout, ServerOptions.idleSeconds)
            ?? RangeCheck.problem("--max-text-chars", maxTextChars, ServerOptions.textCharacters) {
            throw ValidationError(p)
        }
        if host.isEmpty { throw ValidationError("--host is empty") }
        if let n = batchMinStreams, let p = RangeCheck.problem("--batch-min-streams", n, 2...128) { throw ValidationError(p) }
    }

    var serverOptions: ServerOptions {
        var o = ServerOptions()
        o.host = host; o.port = port; o.maxStreams = maxStreams; o.threads = threads
        o.maxMessageBytes = maxMessageBytes; o.maxUploadBytes = maxUploadBytes
        o.idleTimeout = idleTimeout; o.maxTextCharacters = maxTextChars; o.minBatchStreams = batchMinStreams
        return o
    }

    func run() throws {
        let recognizer = try options.load(blasThreads: 1)
        var synthesizer: SpeechSynthesizer?
        var voiceName: String?
        do {
            let path = try ModelLocator.locateVoice(voice)
            synthesizer = try SpeechSynthesizer(voice: path)
            voiceName = (path as NSString).lastPathComponent
        } catch {
            if voice != nil {  // asked for: an error; the default missing: serve without speech
                Console.error("\(error)")
                throw ExitCode(2)
            }
            Console.err("warning: no voice (\(error)); /v1/audio/speech answers 404\n")
        }
        let modelName = recognizer.model.map { ($0.path as NSString).lastPathComponent } ?? "model"
        let server = SpeechServer(recognizer: recognizer, synthesizer: synthesizer, options: serverOptions,
                                  modelName: modelName, voiceName: voiceName)
        let host = self.host
        let done = DispatchSemaphore(value: 0)
        let failure = Handoff<Error?>(nil)
        Task.detached {
            do {
                try await server.run { port in Console.err("listening on http://\(host):\(port)\n") }
            } catch {
                failure.value = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.value {
            Console.error("cannot serve on \(host):\(port): \(error)")
            throw ExitCode(1)
        }
    }
}

/// A value handed from a task to the thread that waits for it (written before the semaphore is
/// signalled, read after the wait).
final class Handoff<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
