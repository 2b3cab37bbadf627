// SpeechRecognizer.swift: the front door for recognition. Loads a model folder the way the command
// line does and hands out streams.

import Foundation
import SSMAudio
import SSMDecoding
import SSMFeatures
import SSMModels
import SSMTensor

/// How a `SpeechRecognizer` loads and decodes. The defaults are the command line's: int8 weights and
/// a beam search with the model's language model, each beam setting taken from the model folder's
/// `decoding.json` unless set here.
public struct RecognizerOptions: Sendable, Equatable {
    public enum Decoding: String, Sendable, CaseIterable {
        /// Arg-max per frame: fastest, no language model, partials that never change.
        case greedy
        /// Prefix beam search with word n-gram shallow fusion.
        case beam
    }

    /// Weights of the per-frame matrix products: `.int8` (quantised when the model loads, about 5×
    /// faster, same accuracy) or `.float32` (as trained; reproduces the PyTorch reference to 1e-5).
    public var precision: MatrixPrecision = .int8
    public var decoding: Decoding = .beam
    /// ARPA language model for the beam search. nil: `decoding.json`'s `lm`, else `lm.arpa` in the
    /// model folder, else none.
    public var languageModel: String?
    /// nil: `decoding.json`'s value, else the built-in default (8).
    public var beamWidth: Int?
    /// Language-model weight of shallow fusion. nil: `decoding.json`, else 0.5.
    public var lmWeight: Float?
    /// Word insertion bonus. nil: `decoding.json`, else 1.0. Ignored (0) without a language model.
    public var wordBonus: Float?
    /// log10 probability of a word the LM does not know. nil: `decoding.json`, else the LM's `<unk>`.
    public var unknownWordLog10: Float?
    /// Partials show only the words on which all beam hypotheses within this many nats of the best
    /// agree (0: the best hypothesis as it is; `.infinity`: never take a word back).
    public var partialMargin: Double = CTCBeamSearchOptions().partialMargin
    /// When an utterance ends (trailing silence 0.8 s, at most 30 s).
    public var endpoint: EndpointConfig = .default

    public init() {}

    // MARK: Accepted ranges: the one place for every number a recognizer is given. `SpeechRecognizer`
    // checks them (`validate()`), and so does the command line with its flag names; the decoding ranges
    // are `CTCBeamSearchOptions`', which also bound the model folder's `decoding.json`.

    public static let beamWidths = CTCBeamSearchOptions.beamWidths
    public static let lmWeights = CTCBeamSearchOptions.lmWeights
    public static let wordBonuses = CTCBeamSearchOptions.wordBonuses
    public static let unknownWordLog10s = CTCBeamSearchOptions.unknownWordLog10s
    /// `partialMargin`: ≥ 0, infinity allowed, NaN not.
    public static let partialMargins = CTCBeamSearchOptions.partialMargins
    /// `endpoint.trailingSilence` and `endpoint.maxUtterance`, in seconds (0: never). Finite, so that
    /// they convert to frame counts (an infinite or 1e18 s endpoint trapped converting to Int).
    public static let endpointSeconds: ClosedRange<Double> = 0...3_600
    /// BLAS threads (`Compute.setThreads`): more than the cores only slows a product down.
    public static let threads: ClosedRange<Int> = 1...64

    /// The options with a range, by their Swift names (`SpeechError` messages) — the command line
    /// maps them to its flags.
    public enum Field: String, Sendable, CaseIterable {
        case beamWidth, lmWeight, wordBonus, unknownWordLog10, partialMargin, trailingSilence, maxUtterance
    }

    /// Throws `SpeechError.invalidOption("NAME must be …, got …")` for the first option outside its
    /// range, with NAME from `name` (default: the Swift property's name).
    public func validate(naming name: (Field) -> String = { $0.rawValue }) throws {
        let problem = beamWidth.flatMap { RangeCheck.problem(name(.beamWidth), $0, Self.beamWidths) }
            ?? lmWeight.flatMap { RangeCheck.problem(name(.lmWeight), $0, Self.lmWeights) }
            ?? wordBonus.flatMap { RangeCheck.problem(name(.wordBonus), $0, Self.wordBonuses) }
            ?? unknownWordLog10.flatMap { RangeCheck.problem(name(.unknownWordLog10), $0, Self.unknownWordLog10s) }
            ?? RangeCheck.problem(name(.partialMargin), partialMargin, Self.partialMargins)
            ?? RangeCheck.problem(name(.trailingSilence), endpoint.trailingSilence, Self.endpointSeconds)
            ?? RangeCheck.problem(name(.maxUtterance), endpoint.maxUtterance, Self.endpointSeconds)
        if let problem { throw SpeechError.invalidOption(problem) }
    }
}

/// How the ranges above (and every config loader's) are stated and checked; re-exported for the
/// command line, which states the same ranges in its help and messages.
public typealias RangeCheck = SSMTensor.RangeCheck

/// Errors of the front door itself (the engine modules' errors pass through unchanged).
public enum SpeechError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An option set in code has a value outside its range.
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .invalidOption(reason): return "invalid recognizer option: \(reason)"
        }
    }
}

/// Speech recognition with a streaming state-space-model encoder.
///
///     let recognizer = try SpeechRecognizer(model: "Resources/models/mamba-30ms")
///     print(try recognizer.transcribe(contentsOf: "speech.wav").text)
///
/// One recognizer holds the weights and can be shared by any number of threads; each stream of
/// audio gets its own `RecognitionStream` (`makeStream()`), which holds the recurrent state.
public final class SpeechRecognizer: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init; the encoder's weights and the
    // language model are only read, and all per-stream state lives in RecognitionStream.

    /// The model folder, when the recognizer was loaded from one.
    public let model: ModelFolder?
    /// The encoder (weights, config); shared read-only by all streams.
    public let encoder: Encoder
    /// The decoder every stream uses.
    public let decoder: DecoderChoice
    public let endpoint: EndpointConfig

    /// Loads the model folder at `path` (config.json, model.safetensors, optional decoding.json and
    /// language model) as `ssmspeech transcribe --model PATH` does.
    public convenience init(model path: String, options: RecognizerOptions = RecognizerOptions()) throws {
        try self.init(model: ModelFolder(path: path), options: options)
    }

    public init(model folder: ModelFolder, options: RecognizerOptions = RecognizerOptions()) throws {
        try options.validate()
        model = folder
        encoder = try Encoder(folder: folder, precision: options.precision)
        decoder = try Self.decoder(for: folder, options: options)
        endpoint = options.endpoint
    }

    /// A recognizer around an encoder already in memory (tests, models built in code).
    public init(encoder: Encoder, decoder: DecoderChoice = .greedy, endpoint: EndpointConfig = .default) {
        model = nil
        self.encoder = encoder
        self.decoder = decoder
        self.endpoint = endpoint
    }

    /// The decoder `options` ask for with this model folder. Each beam setting is the option if set,
    /// else the folder's `decoding.json`, else the built-in default; the LM is the option, else
    /// decoding.json's `lm`, else `lm.arpa` in the folder, else none.
    public static func decoder(for folder: ModelFolder, options: RecognizerOptions) throws -> DecoderChoice {
        guard options.decoding == .beam else { return .greedy }
        let tuned = try DecoderSettings.load(path: folder.decodingPath)
        let bundled = FileManager.default.fileExists(atPath: folder.bundledLMPath) ? folder.bundledLMPath : nil
        let path = options.languageModel ?? tuned.lmPath(modelDirectory: folder.path) ?? bundled
        let lm = try path.map { try NGramLM(contentsOf: $0) }
        var o = CTCBeamSearchOptions()
        o.beamWidth = options.beamWidth ?? tuned.beam ?? o.beamWidth
        o.alpha = options.lmWeight ?? tuned.lmWeight ?? o.alpha
        o.beta = lm == nil ? 0 : (options.wordBonus ?? tuned.wordBonus ?? o.beta)
        o.unknownWordLogProb = (options.unknownWordLog10 ?? tuned.unknownWordLog10).map { $0 * Float(M_LN10) }
        o.partialMargin = options.partialMargin
        return .beam(lm: lm, options: o)
    }

    /// A new stream (its own recurrent state, decoder and endpointing).
    public func makeStream() -> RecognitionStream { RecognitionStream(recognizer: self) }

    /// Transcribes an audio file (any format libsndfile reads, 8 kHz … 768 kHz, any channel count,
    /// mixed to mono), read block by block and streamed exactly as `makeStream()` would. The file's
    /// rate is checked when it is opened (an `AudioError` naming the file).
    public func transcribe(contentsOf path: String) throws -> Transcript {
        let stream = makeStream()
        try AudioFile.forEachBlock(path: path) { stream.accept(samples: $0, sampleRate: $1) }
        return stream.finish()
    }

    /// Transcribes mono samples at `sampleRate` (8 kHz … 768 kHz; as `RecognitionStream.accept`, a rate
    /// outside that range stops the program). `Transcript.duration` counts the audio at 16 kHz.
    public func transcribe(samples: [Float], sampleRate: Int) -> Transcript {
        let stream = makeStream()
        stream.accept(samples: samples, sampleRate: sampleRate)
        return stream.finish()
    }

    // MARK: What reports show

    /// The model folder's name ("mamba-30ms"), or "in-memory".
    public var modelName: String { model?.name ?? "in-memory" }
    public var parameterCount: Int { encoder.parameterCount }
    public var precision: MatrixPrecision { encoder.precision }
    /// Seconds of audio per output frame of the encoder.
    public var frameDuration: Double { encoder.frameDuration }
    /// Audio the model must see before it can emit anything, in whole milliseconds: the feature window
    /// (25 ms) plus one output frame.
    public var algorithmicLatencyMilliseconds: Int {
        let f = FeatureConfig.logmelV1
        return (f.windowLength + f.hopLength * encoder.config.subsampling) * 1000 / f.sampleRate
    }
}
