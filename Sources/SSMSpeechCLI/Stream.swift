import ArgumentParser
import Dispatch
import Foundation
import SSMPipeline
import SSMSpeech

extension PCMEncoding: ExpressibleByArgument {}

struct Stream: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recognize audio streamed on stdin, with live partial results.",
        discussion: """
            Reads stdin until EOF. A stream that starts with a RIFF/WAVE header is read as WAV; anything else \
            as raw PCM described by --rate, --encoding and --channels. Bytes may arrive in any pieces at any \
            pace. Partial hypotheses are published after every chunk; an utterance becomes final after \
            --endpoint-seconds of silence and at EOF. With --json: one JSON object per line, \
            {"type":"partial"|"final","text":…,"start":s,"end":s} (finals also carry "words"). Without --json: \
            a live-updating line on a terminal, otherwise one line per final. SIGINT/SIGTERM flush the \
            final result and exit 0 (while the model loads: exit 0 at once; a second signal: at once, 130/143); \
            a closed stdout ends the program quietly, a stdout that cannot be written (a full disk) is an \
            error line and status 1. The finals of a whole stream, joined, equal `transcribe` on the same audio.
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var blas: BLASThreadsOption

    @Option(name: .long, parsing: .unconditional, help: "Sample rate of raw PCM input in Hz (ignored for WAV).")
    var rate: Int = 16_000

    @Option(name: .long, help: "Sample encoding of raw PCM input: \(PCMEncoding.allCases.map(\.rawValue).joined(separator: ", ")) (ignored for WAV).")
    var encoding: PCMEncoding = .s16le

    @Option(name: .long, parsing: .unconditional, help: "Channels of raw PCM input, mixed down to mono (ignored for WAV).")
    var channels: Int = 1

    @Flag(name: .long, help: "Print JSON lines (partials and finals) instead of text.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: "Audio per read from stdin in milliseconds (at the raw format's byte rate): the chunk size after which a partial is published.")
    var chunkMs: Int = 40

    func validate() throws {
        guard chunkMs >= 1 && chunkMs <= 10_000 else { throw ValidationError("--chunk-ms must be between 1 and 10000") }
    }

    func run() throws {
        Interrupt.exitQuietly() // SIGINT/SIGTERM before the graph runs: nothing to flush, exit 0
        let format = RawPCMFormat(sampleRate: rate, encoding: encoding, channels: channels)
        do { try FileDescriptorAudioSource.validate(format) } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
        let recognizer = try options.load(blasThreads: blas.threads)
        let readBytes = max(1, format.bytesPerFrame * format.sampleRate * chunkMs / 1000)
        let source = FileDescriptorAudioSource(fileDescriptor: STDIN_FILENO, name: "<stdin>", format: format, readBytes: readBytes)
        let printer = StreamPrinter(json: json, live: !json && Console.stdoutIsTerminal)
        let graph = RecognitionGraph.make(source: source, recognizer: recognizer) { _, update in
            printer.publish(update)
        }

        // SIGINT / SIGTERM: end the input as if at EOF, so every stage flushes and the final result prints.
        // A second signal exits at once (Interrupt).
        Interrupt.onInterrupt { graph.stop() }
        do {
            try graph.run()
        } catch {
            printer.endLiveLine()
            Console.error("\(error)")
            throw ExitCode(1)
        }
        printer.endLiveLine()
    }
}

/// Writes partials and finals to stdout in the chosen style.
final class StreamPrinter {
    let json: Bool
    let live: Bool
    private var lastPartial = ""
    private var liveLineShown = false

    init(json: Bool, live: Bool) { self.json = json; self.live = live }

    func publish(_ update: RecognitionUpdate) {
        for f in update.finals {
            if json {
                Console.out(TranscriptFormatter.streamEvent(final: true, utterance: f) + "\n")
            } else if live {
                Console.out("\r\u{1B}[K" + f.text + "\n")
                liveLineShown = false
            } else {
                Console.out(f.text + "\n")
            }
            lastPartial = ""
        }
        guard let p = update.partial, p.text != lastPartial else { return }
        lastPartial = p.text
        if json {
            Console.out(TranscriptFormatter.streamEvent(final: false, utterance: p) + "\n")
        } else if live {
            Console.out("\r\u{1B}[K" + p.text)
            liveLineShown = true
        }
    }

    func endLiveLine() {
        if liveLineShown { Console.out("\r\u{1B}[K"); liveLineShown = false }
    }
}
