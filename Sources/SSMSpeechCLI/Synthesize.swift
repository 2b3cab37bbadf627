import ArgumentParser
import Dispatch
import Foundation
import SSMPipeline
import SSMSpeech

enum SynthesisOutputFormat: String, ExpressibleByArgument, CaseIterable { case wav, raw }

struct Synthesize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speak text: phonemes (espeak-ng) → streaming SSM acoustic model → streaming vocoder.",
        discussion: """
            Speaks TEXT, or each line of stdin as it arrives when TEXT is absent. With -o FILE the audio goes \
            to a WAV file (16-bit, 16 kHz mono); otherwise it streams to stdout as it is made — a WAV header \
            first (sizes unknown, as aplay and sox accept), or headerless s16le samples with --format raw — \
            so `ssmspeech synthesize "Hello." | aplay` starts playing at once. Numbers, money, times and \
            common abbreviations are spelled out; long text is spoken sentence by sentence. --stats prints \
            time to first audio and the real-time factor to stderr. With -o, nothing is left behind when \
            synthesis fails, speaks nothing, or is ended by SIGINT/SIGTERM (the process then ends by the \
            signal, status 130/143); an existing FILE is replaced only by a complete one. Text that starts \
            with '-' goes after '--'.
            """)

    @Argument(help: "The text to speak (default: read lines from stdin).")
    var text: String?

    @Option(name: .long, help: "Voice name under Resources/voices, or a path to a voice folder (default: the bundled voice).")
    var voice: String?

    @Option(name: .shortAndLong, help: "Write a WAV file instead of streaming to stdout (it appears only when complete: written beside it, then renamed).")
    var output: String?

    @Option(name: .long, help: "Stream format on stdout: wav or raw (s16le, no header). Ignored with -o.")
    var format: SynthesisOutputFormat = .wav

    @Option(name: .long, parsing: .unconditional, help: "Speaking rate: durations are multiplied by 1/rate (0.5 … 2).")
    var rate: Float = 1

    @Option(name: .long, parsing: .unconditional, help: "Threads for the matrix work (OpenBLAS); 1 is best for latency.")
    var threads: Int = 1

    @Flag(name: .long, help: "Print time to first audio, audio seconds, compute seconds and RTF to stderr.")
    var stats = false

    func validate() throws {
        if let p = RangeCheck.problem("--rate", rate, SpeechSynthesizer.rates) { throw ValidationError(p) }
        if let p = RangeCheck.problem("--threads", threads, RecognizerOptions.threads) { throw ValidationError(p) }
        if let t = text, t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("the text is empty")
        }
    }

    func run() throws {
        Compute.setThreads(threads)
        let start = DispatchTime.now().uptimeNanoseconds
        let tts: SpeechSynthesizer
        let sink: AudioSink
        do {
            tts = try SpeechSynthesizer(voice: try ModelLocator.locateVoice(voice))
            if let output {
                let file = try WAVFileWriter(path: output, sampleRate: tts.sampleRate, atomic: true)
                Interrupt.setTemporaryFile(file.temporaryPath) // removed on SIGINT/SIGTERM/SIGQUIT
                sink = file
            } else {
                guard !Console.stdoutIsTerminal else {
                    Console.error("stdout is a terminal: pipe the audio (| aplay) or write a file with -o FILE")
                    throw ExitCode(2)
                }
                sink = try WAVStreamWriter(fileDescriptor: STDOUT_FILENO, sampleRate: tts.sampleRate, header: format == .wav)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
        let loaded = DispatchTime.now().uptimeNanoseconds
        var firstAudio: UInt64?
        var samples = 0
        let source = text.map { TextSource(texts: [$0]) } ?? TextSource(lines: .standardInput)
        let graph = SynthesisGraph.make(source: source, synthesizer: tts, rate: rate) { _, chunk in
            if firstAudio == nil { firstAudio = DispatchTime.now().uptimeNanoseconds }
            samples += chunk.count
            do {
                try chunk.withUnsafeBufferPointer { try sink.write($0) }
            } catch AudioError.outputClosed {
                _exit(0)  // the reader went away (`| head -c`): end quietly
            }
        }
        do {
            try graph.run()
            guard samples > 0 else {
                (sink as? WAVFileWriter)?.discard()
                Interrupt.setTemporaryFile(nil)
                Console.error("nothing to speak in the text")
                throw ExitCode(1)
            }
            try sink.finish()
            Interrupt.setTemporaryFile(nil)
        } catch let e as ExitCode {
            throw e
        } catch {
            (sink as? WAVFileWriter)?.discard()
            Interrupt.setTemporaryFile(nil)
            Console.error("\(error)")
            throw ExitCode(1)
        }
        if stats {
            let end = DispatchTime.now().uptimeNanoseconds
            let audio = Double(samples) / Double(tts.sampleRate)
            let compute = Double(end - loaded) / 1e9
            let first = Double((firstAudio ?? end) - loaded) / 1e6
            Console.err(String(format: "first_audio_ms %.1f audio_s %.2f compute_s %.3f rtf %.4f load_ms %.0f params %d\n",
                               first, audio, compute, compute / audio, Double(loaded - start) / 1e6, tts.parameterCount))
        }
    }
}
