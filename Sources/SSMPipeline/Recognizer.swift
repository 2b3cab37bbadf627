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

/// Streaming recognition of 16 kHz mono audio: log-mel features → encoder in recurrent mode →
/// greedy CTC. Feed audio in chunks of any size; the result does not depend on the chunking.
///
/// One `Recognizer` is one stream; the `Encoder` (weights) can be shared by many recognizers.
public final class Recognizer {
    public let encoder: Encoder
    private let features: LogMelExtractor
    private let state: Encoder.State
    private var decoder: CTCGreedyDecoder
    private var samplesSeen = 0
    /// Seconds of audio per encoder output frame (hop × subsampling).
    public let frameDuration: Double

    public init(encoder: Encoder) {
        self.encoder = encoder
        features = LogMelExtractor(config: .logmelV1)
        state = encoder.makeState()
        decoder = CTCGreedyDecoder(blank: 0)
        frameDuration = Double(FeatureConfig.logmelV1.hopLength * EncoderConfig.subsampling) / Double(FeatureConfig.logmelV1.sampleRate)
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

    /// The hypothesis so far.
    public var current: Transcript { Self.transcript(decoder.tokens, vocab: encoder.config.vocab, frameDuration: frameDuration,
                                                     duration: Double(samplesSeen) / Double(FeatureConfig.logmelV1.sampleRate)) }

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

