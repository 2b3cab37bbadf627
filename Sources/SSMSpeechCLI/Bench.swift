import ArgumentParser
import Foundation
import SSMPipeline
import SSMSpeech

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure streaming recognition speed and latency (definitions: Docs/INTERFACE.md).",
        discussion: """
            Streams the audio (default: the bundled Resources/bench/bench.wav, 27 s of read speech, with its \
            PocketSphinx forced alignment bench.words.tsv) through the same pipeline as `stream`, in chunks of \
            --chunk-ms, and reports: rtf, chunk compute latency p50/p90/p99/max, first-partial latency, \
            emission latency p50/p90 (needs a word alignment: --alignment, or AUDIO.words.tsv beside the \
            audio), finalization latency, peak resident memory and model parameters. Without --realtime the \
            chunks go in lock-step (next chunk when the previous partial is out) and first-partial and emission \
            latencies are computed on the audio clock; with --realtime the input is paced by the wall clock. \
            The audio is read block by block as it is streamed (memory does not grow with its length). An \
            audio file with no samples is an error (exit status 1): there is nothing to measure.
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var blas: BLASThreadsOption

    @Option(name: .long, help: "Audio file to stream (default: the bundled bench recording).")
    var audio: String?

    @Option(name: .long, help: "Word alignment of the audio, 'word<TAB>start<TAB>end' per line (default: AUDIO.words.tsv if it exists).")
    var alignment: String?

    @Option(name: .long, parsing: .unconditional, help: "Chunk size in milliseconds (1 … 10000).")
    var chunkMs: Int = 40

    @Option(name: .long, help: "Graph layout: fused (resample, features, encoder and CTC on one queue) or staged (one queue each).")
    var graph: RecognitionGraph.Layout = .fused

    @Flag(name: .long, help: "Pace the input at wall-clock speed.")
    var realtime = false

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard chunkMs >= 1 && chunkMs <= 10_000 else { throw ValidationError("--chunk-ms must be between 1 and 10000") }
    }

    func run() throws {
        guard let path = audio ?? ModelLocator.resource("bench/bench.wav") else {
            Console.error("no bench recording found (Resources/bench/bench.wav); pass --audio FILE")
            throw ExitCode(2)
        }
        let recognizer = try options.load(blasThreads: blas.threads)
        do {
            let stem = (path as NSString).deletingPathExtension
            let alignPath = alignment ?? (FileManager.default.fileExists(atPath: stem + ".words.tsv") ? stem + ".words.tsv" : nil)
            let words = try alignPath.map { try LatencyBench.readAlignment(path: $0) }
            let report = try LatencyBench.run(
                recognizer: recognizer, path: path, alignment: words, chunkMs: chunkMs, realtime: realtime,
                audioName: (path as NSString).lastPathComponent, threads: blas.threads, layout: graph)
            Console.out(json ? try Self.json(report) + "\n" : Self.table(report))
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
    }

    /// Throws (an error line, not a trap) if a figure is not finite, which JSON cannot hold.
    static func json(_ r: BenchReport) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(r), as: UTF8.self)
    }

    static func table(_ r: BenchReport) -> String {
        func ms(_ x: Double?) -> String { x.map { String(format: "%.2f ms", $0) } ?? "n/a (no alignment)" }
        let rows: [(String, String)] = [
            ("model", "\(r.model) (\(r.params) parameters, \(r.precision) weights)"),
            ("decoder", r.decoder),
            ("graph", r.graph),
            ("audio", String(format: "%@ (%.1f s), %d ms chunks, %@, %d thread(s)", r.audio, r.audio_seconds, r.chunk_size_ms,
                             r.realtime ? "real-time pacing" : "lock-step", r.threads)),
            ("rtf", String(format: "%.4f", r.rtf)),
            ("chunk compute p50/p90/p99/max", String(format: "%.3f / %.3f / %.3f / %.3f ms", r.chunk_ms_p50, r.chunk_ms_p90, r.chunk_ms_p99, r.chunk_ms_max)),
            ("first partial", ms(r.first_partial_ms)),
            ("emission p50/p90", r.emission_ms_p50 == nil ? ms(nil) : "\(ms(r.emission_ms_p50)) / \(ms(r.emission_ms_p90)) over \(r.emission_words) words"),
            ("finalization", ms(r.final_ms)),
            ("algorithmic latency", ms(r.algorithmic_latency_ms)),
            ("peak RSS", String(format: "%.1f MiB", r.peak_rss_mb)),
            ("text", r.text),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n") + "\n"
    }
}
extension RecognitionGraph.Layout: ExpressibleByArgument {}
