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

/// Streaming recognition of 16 kHz mono audio: log-mel features → encoder in recurrent mode →
/// CTC decoding (greedy or beam search with an n-gram LM). Feed audio in chunks of any size; the
/// result does not depend on the chunking.
///
/// One `Recognizer` is one stream; the `Encoder` (weights) can be shared by many recognizers.
public final class Recognizer {
    public let encoder: Encoder
    private let features: LogMelExtractor
    private let state: Encoder.State
    private var decoder: CTCDecoding
    private var samplesSeen = 0
    /// Seconds of audio per encoder output frame (hop × subsampling).
    public let frameDuration: Double

    public init(encoder: Encoder, decoder choice: DecoderChoice = .greedy) {
        self.encoder = encoder
        features = LogMelExtractor(config: .logmelV1)
        state = encoder.makeState()
        decoder = choice.make(vocabulary: encoder.config.vocab)
        frameDuration = Double(FeatureConfig.logmelV1.hopLength * encoder.config.subsampling) / Double(FeatureConfig.logmelV1.sampleRate)
    }

    /// Starts a new utterance.
    public func reset() {
        features.reset()
        state.reset()
        decoder.reset()
        samplesSeen = 0
    }

    /// Feeds 16 kHz mono samples.
    public func accept(_ samples: UnsafeBufferPointer<Float>) {
        FloatingPoint.enableFlushToZero() // per thread; callers may hop threads between chunks
        samplesSeen += samples.count
        features.accept(samples) { frame in
            if encoder.step(frame.baseAddress!, state: state) {
                decoder.accept(UnsafeBufferPointer(start: state.logits.pointer, count: state.logits.count))
            }
        }
    }

    public func accept(_ samples: [Float]) { samples.withUnsafeBufferPointer { accept($0) } }

    private var duration: Double { Double(samplesSeen) / Double(FeatureConfig.logmelV1.sampleRate) }

    /// The hypothesis so far (a partial result: a beam search may still revise it).
    public var current: Transcript {
        Self.transcript(decoder.tokens, vocab: encoder.config.vocab, frameDuration: frameDuration, duration: duration)
    }

    /// The final result for the audio fed so far (end of utterance: the LM scores the last word).
    public func finish() -> Transcript {
        Self.transcript(decoder.finalize(), vocab: encoder.config.vocab, frameDuration: frameDuration, duration: duration)
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

