import Foundation
import SSMDecoding
import SSMFeatures
import SSMModels
import SSMTensor

/// A recognised word with its time span in seconds.
public struct WordTiming: Equatable, Codable, Sendable {
    public var word: String
    public var start: Double
    public var end: Double
    public init(word: String, start: Double, end: Double) { self.word = word; self.start = start; self.end = end }
}

/// The result for one utterance or file.
public struct Transcript: Equatable, Sendable {
    public var text: String
    public var words: [WordTiming]
    /// Audio duration in seconds.
    public var duration: Double
    public init(text: String, words: [WordTiming], duration: Double) { self.text = text; self.words = words; self.duration = duration }
}

/// How CTC outputs become text.
public enum DecoderChoice {
    /// Arg-max per frame (fastest; no language model).
    case greedy
    /// Prefix beam search, optionally with word n-gram shallow fusion.
    case beam(lm: NGramLM?, options: CTCBeamSearchOptions)

    /// One line for reports: "greedy", or the beam width and, with an LM, its fusion settings.
    public var summary: String {
        switch self {
        case .greedy: return "greedy"
        case let .beam(lm, o):
            guard lm != nil else { return "beam \(o.beamWidth), no LM, partial margin \(o.partialMargin)" }
            let unk = o.unknownWordLogProb.map { String(format: "%.1f", $0 / Float(M_LN10)) } ?? "the LM's <unk>"
            return "beam \(o.beamWidth), LM weight \(o.alpha), word bonus \(o.beta), unknown word log10 \(unk), partial margin \(o.partialMargin)"
        }
    }

    func make(vocabulary: [String]) -> CTCDecoding {
        switch self {
        case .greedy: return CTCGreedyDecoder(blank: 0)
        case let .beam(lm, options):
            var o = options
            o.blank = 0
            if o.space == nil { o.space = vocabulary.firstIndex(of: " ") }
            return CTCPrefixBeamSearch(vocabulary: vocabulary, lm: lm, options: o)
        }
    }
}

extension Transcript {
    /// The transcript of a whole stream: its utterances' texts joined by spaces, all their words.
    public init(utterances: [Utterance], duration: Double) {
        self.init(text: utterances.map(\.text).filter { !$0.isEmpty }.joined(separator: " "),
                  words: utterances.flatMap(\.words), duration: duration)
    }
}

/// Streaming recognition of 16 kHz mono audio, synchronously on the caller's thread: the same
/// stages as the `Pipeline` graphs (features → encoder in recurrent mode → CTC with endpointing),
/// chained inline. Feed audio in chunks of any size; the result does not depend on the chunking.
///
/// One `Recognizer` is one stream; the `Encoder` (weights) can be shared by many recognizers.
public final class Recognizer {
    public let encoder: Encoder
    private let features: FeatureStage
    private let encoderStage: EncoderStage
    private let ctc: CTCStage
    private var finals: [Utterance] = []
    private var partial: Utterance?
    private var samplesSeen = 0
    /// Seconds of audio per encoder output frame (hop × subsampling).
    public let frameDuration: Double

    public static func frameDuration(of encoder: Encoder) -> Double {
        Double(FeatureConfig.logmelV1.hopLength * encoder.config.subsampling) / Double(FeatureConfig.logmelV1.sampleRate)
    }

    public init(encoder: Encoder, decoder choice: DecoderChoice = .greedy, endpoint: EndpointConfig = .default) {
        self.encoder = encoder
        features = FeatureStage()
        encoderStage = EncoderStage(encoder: encoder)
        ctc = CTCStage(encoder: encoder, decoder: choice, endpoint: endpoint)
        frameDuration = Self.frameDuration(of: encoder)
    }

    /// Starts a new stream.
    public func reset() {
        features.reset()
        encoderStage.reset()
        ctc.reset()
        finals = []
        partial = nil
        samplesSeen = 0
    }

    /// Feeds 16 kHz mono samples.
    public func accept(_ samples: [Float]) {
        samplesSeen += samples.count
        // The stages only throw for sample-rate changes, which cannot happen here.
        let update = try! ctc.process(encoderStage.process(features.process(samples)))
        finals += update.finals
        partial = update.partial
    }

    public func accept(_ samples: UnsafeBufferPointer<Float>) { accept(Array(samples)) }

    private var duration: Double { Double(samplesSeen) / Double(FeatureConfig.logmelV1.sampleRate) }

    /// Utterances closed so far by endpoints.
    public var finishedUtterances: [Utterance] { finals }

    /// The hypothesis so far (a partial result: a beam search may still revise its open utterance).
    public var current: Transcript {
        Transcript(utterances: finals + (partial.map { [$0] } ?? []), duration: duration)
    }

    /// The final result for the audio fed so far (end of stream: the LM scores the last word).
    /// Call `reset()` before feeding a new stream.
    public func finish() -> Transcript {
        finals += (try! ctc.flush()).finals
        partial = nil
        return Transcript(utterances: finals, duration: duration)
    }

    /// Turns CTC tokens into text and word timings; a word spans from its first to its last symbol's frame.
    public static func transcript(_ tokens: [EmittedToken], vocab: [String], frameDuration: Double, duration: Double) -> Transcript {
        var words: [WordTiming] = []
        var word = "", start = 0, last = 0
        func close() {
            if !word.isEmpty {
                words.append(WordTiming(word: word, start: Double(start) * frameDuration,
                                        end: min(duration, Double(last + 1) * frameDuration)))
            }
            word = ""
        }
        for t in tokens {
            let sym = t.token < vocab.count ? vocab[t.token] : ""
            if sym == " " || sym == "|" || sym == "▁" { close(); continue }
            if word.isEmpty { start = t.frame }
            word += sym
            last = t.frame
        }
        close()
        return Transcript(text: words.map(\.word).joined(separator: " "), words: words, duration: duration)
    }
}

