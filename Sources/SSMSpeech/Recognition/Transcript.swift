// Transcript.swift: what recognition returns (words with times, utterances, updates of a stream).

import Foundation
import SSMDecoding

/// A recognised word with its time span in seconds from the start of the stream.
public struct WordTiming: Equatable, Codable, Sendable {
    public var word: String
    public var start: Double
    public var end: Double
    public init(word: String, start: Double, end: Double) { self.word = word; self.start = start; self.end = end }
}

/// The result for a file, a buffer or a whole stream.
public struct Transcript: Equatable, Sendable {
    public var text: String
    public var words: [WordTiming]
    /// Audio duration in seconds.
    public var duration: Double
    public init(text: String, words: [WordTiming], duration: Double) { self.text = text; self.words = words; self.duration = duration }
}

/// One utterance: the text between two endpoints, with absolute times in the stream.
public struct Utterance: Equatable, Sendable {
    public var text: String
    public var words: [WordTiming]
    /// Seconds from the start of the stream: the first word's start, and the end of the utterance's
    /// audio (the endpoint, or the end of the audio seen so far for a partial).
    public var start: Double
    public var end: Double
    public init(text: String, words: [WordTiming], start: Double, end: Double) {
        self.text = text; self.words = words; self.start = start; self.end = end
    }
}

/// What one step of a stream publishes: utterances closed by an endpoint during that step, and the
/// hypothesis of the utterance still open (nil when it has no words yet).
public struct RecognitionUpdate: Sendable, Equatable {
    public var finals: [Utterance]
    public var partial: Utterance?
    public init(finals: [Utterance] = [], partial: Utterance? = nil) { self.finals = finals; self.partial = partial }
}

/// When an utterance ends.
public struct EndpointConfig: Sendable, Equatable {
    /// An utterance that has speech ends after this many seconds without a non-blank CTC frame;
    /// 0 disables endpointing (one utterance per stream).
    public var trailingSilence: Double
    /// An utterance is cut after this many seconds even without a pause (0: never), so that a stream
    /// that never pauses (music, noise) still keeps memory bounded and produces finals.
    public var maxUtterance: Double
    public init(trailingSilence: Double = 0.8, maxUtterance: Double = 30) {
        self.trailingSilence = trailingSilence
        self.maxUtterance = maxUtterance
    }
    public static let `default` = EndpointConfig()
}

extension Transcript {
    /// The transcript of a whole stream: its utterances' texts joined by spaces, all their words.
    public init(utterances: [Utterance], duration: Double) {
        self.init(text: utterances.map(\.text).filter { !$0.isEmpty }.joined(separator: " "),
                  words: utterances.flatMap(\.words), duration: duration)
    }

    /// Turns CTC tokens into text and word timings; a word spans from its first to its last symbol's
    /// frame. `vocab[0]` is the blank; " ", "|" and "▁" separate words.
    public init(tokens: [EmittedToken], vocabulary vocab: [String], frameDuration: Double, duration: Double) {
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
        self.init(text: words.map(\.word).joined(separator: " "), words: words, duration: duration)
    }
}
