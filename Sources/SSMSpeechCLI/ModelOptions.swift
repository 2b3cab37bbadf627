import ArgumentParser
import Foundation
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMTensor

enum DecoderKind: String, ExpressibleByArgument, CaseIterable {
    case greedy, beam
}

extension MatrixPrecision: ExpressibleByArgument {}

/// Model and decoding options shared by `transcribe`, `stream` and `bench`.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name (a folder under Resources/models) or path to a model folder.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "CTC decoding: greedy, or beam (prefix beam search with a word LM: --lm, else the model's).",
        discussion: "Beam settings not given as flags come from the model folder's decoding.json (tuned for that model), else the built-in defaults shown."))
    var decoder: DecoderKind = .beam

    @Option(name: .long, help: "Word n-gram language model in ARPA format for the beam search (default: decoding.json's lm, else lm.arpa in the model folder, else none).")
    var lm: String?

    @Option(name: .long, help: "Beam width (default: decoding.json, else 8).")
    var beam: Int?

    @Option(name: .long, help: "Language-model weight, shallow fusion (default: decoding.json, else 0.5).")
    var lmWeight: Float?

    @Option(name: .long, help: "Word insertion bonus (default: decoding.json, else 1.0).")
    var wordBonus: Float?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "log10 probability of a word missing from the LM's vocabulary (default: decoding.json, else the LM's own <unk> score).",
        discussion: "Lower values (e.g. -10) keep the beam to words the LM knows; misspelt words then cost more."))
    var unknownWordLog10: Float?

    @Option(name: .long, help: ArgumentHelp(
        "Weights of the per-frame matrix products: int8 (quantised when the model loads) or float32 (as trained).",
        discussion: "int8 reads a quarter of the bytes per step and made transcription about 5x faster with the same word error rate (README); float32 reproduces the PyTorch reference to 1e-5."))
    var precision: MatrixPrecision = .int8

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Partial results (stream, bench) show only the words on which all beam hypotheses within this many nats of the best agree.",
        discussion: "0 shows the best hypothesis as it is (fastest, but about 8 of every 100 words shown are later taken back); inf never takes a word back (slowest). Greedy decoding ignores it."))
    var partialMargin: Double = CTCBeamSearchOptions().partialMargin

    @Option(name: .long, help: "BLAS threads (1 is fastest for streaming-size matrices).")
    var threads: Int = 1

    @Option(name: .long, help: "Seconds of trailing silence that end an utterance (0: never; one utterance per stream).")
    var endpointSeconds: Double = 0.8

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let beam, beam < 1 { throw ValidationError("--beam must be at least 1") }
        guard partialMargin >= 0 else { throw ValidationError("--partial-margin must be a number >= 0 (or inf)") }
        guard endpointSeconds >= 0 else { throw ValidationError("--endpoint-seconds must not be negative") }
    }

    var endpoint: EndpointConfig { EndpointConfig(trailingSilence: endpointSeconds) }

    /// Loads the model and the decoder; prints one `error:` line and exits 2 if that fails.
    func load() throws -> (encoder: Encoder, decoder: DecoderChoice, directory: String) {
        BLAS.setThreads(threads)
        do {
            let dir = try ModelLocator.locate(model)
            let encoder = try Encoder(directory: dir, precision: precision)
            return (encoder, try decoderChoice(modelDirectory: dir), dir)
        } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
    }

    /// The decoder the flags ask for. Each beam setting is the flag if given, else the model's
    /// `decoding.json`, else the built-in default; the LM is `--lm`, else decoding.json's `lm`, else
    /// `lm.arpa` beside the model, else none.
    func decoderChoice(modelDirectory dir: String) throws -> DecoderChoice {
        guard decoder == .beam else { return .greedy }
        let tuned = try DecoderSettings.load(modelDirectory: dir)
        let bundled = (dir as NSString).appendingPathComponent("lm.arpa")
        let path = lm ?? tuned.lmPath(modelDirectory: dir) ?? (FileManager.default.fileExists(atPath: bundled) ? bundled : nil)
        let model = try path.map { try NGramLM(contentsOf: $0) }
        var options = CTCBeamSearchOptions()
        options.beamWidth = beam ?? tuned.beam ?? options.beamWidth
        options.alpha = lmWeight ?? tuned.lm_weight ?? options.alpha
        options.beta = model == nil ? 0 : (wordBonus ?? tuned.word_bonus ?? options.beta)
        options.unknownWordLogProb = (unknownWordLog10 ?? tuned.unknown_word_log10).map { $0 * Float(M_LN10) }
        options.partialMargin = partialMargin
        return .beam(lm: model, options: options)
    }
}
