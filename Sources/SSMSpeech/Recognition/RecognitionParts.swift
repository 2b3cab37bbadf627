// RecognitionParts.swift: the four parts of a recognition stream, in order:
// resample → log-mel → encoder (recurrent) → CTC decoding with endpointing.
//
// Each part is a plain class with `process` (one chunk in, its output out) and `flush` (end of input).
// `RecognitionStream` chains them inline; the pipeline module (SSMPipeline) can also run each one as
// a node of its own (its "staged" layout). Dimension letters: T feature frames, F mel bins, L encoder
// output frames, V vocabulary symbols.

import Foundation
import SSMAudio
import SSMDecoding
import SSMFeatures
import SSMModels
import SSMTensor

/// Mono samples at the rate of their source.
public struct AudioBlock: Sendable {
    public var samples: [Float]
    public var sampleRate: Int
    public init(samples: [Float], sampleRate: Int) { self.samples = samples; self.sampleRate = sampleRate }
}

/// Source-rate mono audio → 16 kHz (libsoxr; the output does not depend on how the input is split).
///
/// The rate may differ from block to block: when it changes, what the old resampler still holds is
/// flushed and a new one starts. `process` throws `AudioError.invalidSampleRate` for a rate outside
/// `AudioLimits.sampleRates` (8 kHz … 768 kHz); `RecognitionStream` checks the rate itself.
public final class ResampleStage {
    public let outputRate: Int
    private var resampler: Resampler?
    private var out = [Float]()

    public init(outputRate: Int = FeatureConfig.logmelV1.sampleRate) { self.outputRate = outputRate }

    /// The input rate of the current resampler (nil before the first block).
    public var inputRate: Int? { resampler?.inputRate }

    public func process(_ block: AudioBlock) throws -> [Float] {
        try AudioLimits.validate(sampleRate: block.sampleRate, channels: 1, source: "audio block")
        return resample(block)
    }

    /// `process` for a block whose rate is known to be within `AudioLimits.sampleRates`.
    func resample(_ block: AudioBlock) -> [Float] {
        out.removeAll(keepingCapacity: true)
        if let r = resampler, r.inputRate != block.sampleRate {
            Self.checked { try r.flush(into: &out) }
            resampler = nil
        }
        if resampler == nil {
            resampler = Self.checked { try Resampler(inputRate: block.sampleRate, outputRate: outputRate) }
        }
        let r = resampler!
        Self.checked { try r.process(block.samples, into: &out) }
        return out
    }

    public func flush() -> [Float] {
        out.removeAll(keepingCapacity: true)
        if let r = resampler { Self.checked { try r.flush(into: &out) } }
        resampler = nil
        return out
    }

    /// Forgets the stream (the next block starts a new resampler).
    public func reset() { resampler = nil }

    /// libsoxr fails only on invalid rates (excluded by the callers) or when memory runs out.
    private static func checked<T>(_ body: () throws -> T) -> T {
        do { return try body() } catch { fatalError("resampler: \(error)") }
    }
}

/// 16 kHz samples → log-mel frames `(T, F)` (T may be 0 for a short chunk; chunking-invariant).
public final class FeatureStage {
    public let extractor: LogMelExtractor
    public init(config: FeatureConfig = .logmelV1) { extractor = LogMelExtractor(config: config) }
    public func process(_ samples: [Float]) -> Matrix { extractor.accept(samples) }
    /// The features use no padding: nothing is held back at the end.
    public func flush() -> Matrix { Matrix(rows: 0, cols: extractor.config.melBins) }
    public func reset() { extractor.reset() }
}

/// Log-mel frames `(T, F)` → CTC logits `(L, V)`, stepping the encoder in recurrent mode; the
/// recurrent state is all that lives from chunk to chunk.
public final class EncoderStage {
    public let encoder: Encoder
    public let state: Encoder.State

    public init(encoder: Encoder) {
        self.encoder = encoder
        state = encoder.makeState()
    }

    public func process(_ frames: Matrix) -> Matrix {
        FloatingPoint.enableFlushToZero() // per thread: the node's queue may run on any worker thread
        let v = encoder.vocabularySize
        var logits = Matrix(rows: 0, cols: v)
        logits.data.reserveCapacity((frames.rows / encoder.config.subsampling + 1) * v)
        frames.data.withUnsafeBufferPointer { p in
            for t in 0..<frames.rows where encoder.step(p.baseAddress! + t * frames.cols, state: state) {
                logits.data.append(contentsOf: UnsafeBufferPointer(start: state.logits.pointer, count: v))
                logits.rows += 1
            }
        }
        return logits
    }

    public func flush() -> Matrix { Matrix(rows: 0, cols: encoder.vocabularySize) }
    public func reset() { state.reset() }
}

/// CTC logits → partial hypotheses and final utterances. Endpointing looks at the arg-max path (a
/// frame is speech when its best symbol is not the blank), so it behaves the same for greedy and
/// beam decoding. The encoder state is not reset at an endpoint, so cutting a stream into
/// utterances does not change the acoustics, and `transcribe` (which uses this same part) gives the
/// same text as `stream`.
public final class CTCStage {
    public let vocabulary: [String]
    /// Seconds of audio per encoder output frame.
    public let frameDuration: Double
    public let endpoint: EndpointConfig
    private var decoder: CTCDecoding
    private let silenceFrames: Int, maxFrames: Int
    /// Encoder frames seen in the stream, and the frame where the open utterance began.
    private var frames = 0, utteranceStart = 0
    private var lastSpeechFrame = -1
    private var hasSpeech = false

    public init(vocabulary: [String], frameDuration: Double, decoder: DecoderChoice, endpoint: EndpointConfig = .default) {
        self.vocabulary = vocabulary
        self.frameDuration = frameDuration
        self.endpoint = endpoint
        self.decoder = decoder.make(vocabulary: vocabulary)
        silenceFrames = endpoint.trailingSilence > 0 ? max(1, Int((endpoint.trailingSilence / frameDuration).rounded())) : Int.max
        maxFrames = endpoint.maxUtterance > 0 ? max(1, Int((endpoint.maxUtterance / frameDuration).rounded())) : Int.max
    }

    public convenience init(encoder: Encoder, decoder: DecoderChoice, endpoint: EndpointConfig = .default) {
        self.init(vocabulary: encoder.config.vocab, frameDuration: encoder.frameDuration,
                  decoder: decoder, endpoint: endpoint)
    }

    public func process(_ logits: Matrix) -> RecognitionUpdate {
        var update = RecognitionUpdate()
        logits.data.withUnsafeBufferPointer { p in
            for t in 0..<logits.rows {
                let row = UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])
                decoder.accept(row)
                if CTCGreedyDecoder.argmax(row) != 0 { lastSpeechFrame = frames; hasSpeech = true }
                frames += 1
                if hasSpeech && (frames - 1 - lastSpeechFrame >= silenceFrames || frames - utteranceStart >= maxFrames) {
                    if let u = closeUtterance() { update.finals.append(u) }
                } else if !hasSpeech && frames - utteranceStart >= min(silenceFrames, maxFrames) {
                    // As long a stretch with no speech as would end an utterance: drop it, final-less.
                    // Kept, the beam search ends up preferring one low-probability symbol anywhere in
                    // it over none (their probabilities add up over the frames): "e" for silence.
                    decoder.reset()
                    utteranceStart = frames
                }
            }
        }
        let partial = utterance(decoder.partialTokens)
        update.partial = partial.words.isEmpty ? nil : partial
        return update
    }

    /// End of stream: the open utterance becomes final (if it has words).
    public func flush() -> RecognitionUpdate {
        RecognitionUpdate(finals: closeUtterance().map { [$0] } ?? [], partial: nil)
    }

    /// Forgets everything (a new stream).
    public func reset() {
        decoder.reset()
        frames = 0; utteranceStart = 0; lastSpeechFrame = -1; hasSpeech = false
    }

    private func closeUtterance() -> Utterance? {
        let u = utterance(decoder.finalize())
        decoder.reset()
        utteranceStart = frames
        hasSpeech = false
        return u.words.isEmpty ? nil : u
    }

    private func utterance(_ tokens: [EmittedToken]) -> Utterance {
        let offset = Double(utteranceStart) * frameDuration
        let t = Transcript(tokens: tokens, vocabulary: vocabulary, frameDuration: frameDuration,
                           duration: Double(frames - utteranceStart) * frameDuration)
        let words = t.words.map { WordTiming(word: $0.word, start: $0.start + offset, end: $0.end + offset) }
        return Utterance(text: t.text, words: words, start: words.first?.start ?? offset, end: Double(frames) * frameDuration)
    }
}

extension Encoder {
    /// Seconds of audio per encoder output frame (feature hop × subsampling).
    public var frameDuration: Double {
        Double(FeatureConfig.logmelV1.hopLength * config.subsampling) / Double(FeatureConfig.logmelV1.sampleRate)
    }
}
