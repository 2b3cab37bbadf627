import ArgumentParser
import Foundation
import SSMSpeech

extension RecognizerOptions.Decoding: ExpressibleByArgument {}
extension MatrixPrecision: ExpressibleByArgument {}

/// Model and decoding options shared by `transcribe`, `stream` and `bench`.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name (a folder under Resources/models) or path to a model folder.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "CTC decoding: greedy, or beam (prefix beam search with a word LM: --lm, else the model's).",
        discussion: "Beam settings not given as flags come from the model folder's decoding.json (tuned for that model), else the built-in defaults shown."))
    var decoder: RecognizerOptions.Decoding = .beam

    @Option(name: .long, help: "Word n-gram language model in ARPA format for the beam search (default: decoding.json's lm, else lm.arpa in the model folder, else none).")
    var lm: String?

    @Option(name: .long, help: "Beam width, \(RangeCheck.text(RecognizerOptions.beamWidths)) (default: decoding.json, else 8).")
    var beam: Int?

    @Option(name: .long, help: "Language-model weight, shallow fusion, \(RangeCheck.text(RecognizerOptions.lmWeights)) (default: decoding.json, else 0.5).")
    var lmWeight: Float?

    @Option(name: .long, parsing: .unconditional, help: "Word insertion bonus, \(RangeCheck.text(RecognizerOptions.wordBonuses)) (default: decoding.json, else 1.0).")
    var wordBonus: Float?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "log10 probability of a word missing from the LM's vocabulary, \(RangeCheck.text(RecognizerOptions.unknownWordLog10s)) (default: decoding.json, else the LM's own <unk> score).",
        discussion: "Lower values (e.g. -10) keep the beam to words the LM knows; misspelt words then cost more."))
    var unknownWordLog10: Float?

    @Option(name: .long, help: ArgumentHelp(
        "Weights of the per-frame matrix products: int8 (quantised when the model loads) or float32 (as trained).",
        discussion: "int8 reads a quarter of the bytes per step and made streaming transcription about 3x faster with the same word error rate (README); float32 reproduces the PyTorch reference to 1e-5."))
    var precision: MatrixPrecision = .int8

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Partial results (stream, bench) show only the words on which all beam hypotheses within this many nats (\(RangeCheck.text(RecognizerOptions.partialMargins))) of the best agree.",
        discussion: "0 shows the best hypothesis as it is (fastest, but about 8 of every 100 words shown are later taken back); inf never takes a word back (slowest). Greedy decoding ignores it."))
    var partialMargin: Double = RecognizerOptions().partialMargin


    @Option(name: .long, help: "Seconds of trailing silence that end an utterance, \(RangeCheck.text(RecognizerOptions.endpointSeconds)) (0: never; one utterance per stream).")
    var endpointSeconds: Double = 0.8

    /// The flag of each ranged option (the ranges themselves: `RecognizerOptions`).
    static func flag(_ field: RecognizerOptions.Field) -> String {
        switch field {
        case .beamWidth: return "--beam"
        case .lmWeight: return "--lm-weight"
        case .wordBonus: return "--word-bonus"
        case .unknownWordLog10: return "--unknown-word-log10"
        case .partialMargin: return "--partial-margin"
        case .trailingSilence: return "--endpoint-seconds"
        case .maxUtterance: return "the utterance limit"
        }
    }

    /// Every number against its range, before anything is loaded: one `error: --flag must be …` line.
    func validate() throws {
        do { try recognizerOptions.validate(naming: Self.flag) } catch SpeechError.invalidOption(let reason) {
            throw ValidationError(reason)
        }
    }

    /// The library options these flags ask for (unset beam flags: the model's decoding.json).
    var recognizerOptions: RecognizerOptions {
        var o = RecognizerOptions()
        o.precision = precision
        o.decoding = decoder
        o.languageModel = lm
        o.beamWidth = beam
        o.lmWeight = lmWeight
        o.wordBonus = wordBonus
        o.unknownWordLog10 = unknownWordLog10
        o.partialMargin = partialMargin
        o.endpoint = EndpointConfig(trailingSilence: endpointSeconds)
        return o
    }

    /// Finds and loads the model (`SpeechRecognizer`, exactly as an embedder would with the same
    /// options); prints one `error:` line and exits 2 if that fails.
    func load(blasThreads: Int = 1) throws -> SpeechRecognizer {
        Compute.setThreads(blasThreads)
        do {
            return try SpeechRecognizer(model: ModelLocator.locate(model), options: recognizerOptions)
        } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
    }
}

/// `--threads` of transcribe, stream and bench: OpenBLAS threads per matrix product (serve's
/// `--threads` counts engine loops instead).
struct BLASThreadsOption: ParsableArguments {
    @Option(name: .long, help: "BLAS threads, \(RangeCheck.text(RecognizerOptions.threads)) (1 is fastest for streaming-size matrices).")
    var threads: Int = 1

    func validate() throws {
        if let p = RangeCheck.problem("--threads", threads, RecognizerOptions.threads) { throw ValidationError(p) }
    }
}
