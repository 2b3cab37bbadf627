// RecognitionStages.swift: resample → log-mel → encoder (recurrent) → CTC with endpointing.
//
// Each stage is a plain class usable on its own (the synchronous `Recognizer` chains them inline)
// or as a node of a `Pipeline` (transcribe, stream, bench).

import Foundation
import SSMAudio
import SSMDecoding
import SSMFeatures
import SSMModels
import SSMTensor

/// Source-rate mono audio → 16 kHz (libsoxr; output independent of the block split).
public final class ResampleStage: PipelineStage {
    public let outputRate: Int
    private var resampler: Resampler?
    private var out = [Float]()

    public init(outputRate: Int = FeatureConfig.logmelV1.sampleRate) { self.outputRate = outputRate }

    public func process(_ block: AudioBlock) throws -> [Float] {
        if resampler == nil { resampler = try Resampler(inputRate: block.sampleRate, outputRate: outputRate) }
        guard let r = resampler, r.inputRate == block.sampleRate else {
            throw AudioError.invalidArgument("sample rate changed mid-stream (\(resampler!.inputRate) Hz → \(block.sampleRate) Hz)")
        }
        out.removeAll(keepingCapacity: true)
        try r.process(block.samples, into: &out)
        return out
    }

    public func flush() throws -> [Float] {
        guard let r = resampler else { return [] }
        out.removeAll(keepingCapacity: true)
        try r.flush(into: &out)
        return out
    }
}

/// 16 kHz samples → log-mel frames `(T, F)` (T may be 0 for a short chunk; chunking-invariant).
public final class FeatureStage: PipelineStage {
    public let extractor: LogMelExtractor
    public init(config: FeatureConfig = .logmelV1) { extractor = LogMelExtractor(config: config) }
    public func process(_ samples: [Float]) throws -> Matrix { extractor.accept(samples) }
    /// The features use no padding: nothing is held back at the end.
    public func flush() throws -> Matrix { Matrix(rows: 0, cols: extractor.config.melBins) }
    public func reset() { extractor.reset() }
}

/// Log-mel frames `(T, F)` → CTC logits `(L, V)`, stepping the encoder in recurrent mode; the
/// recurrent state is all that lives from chunk to chunk.
public final class EncoderStage: PipelineStage {
    public let encoder: Encoder
    public let state: Encoder.State

    public init(encoder: Encoder) {
        self.encoder = encoder
        state = encoder.makeState()
    }

    public func process(_ frames: Matrix) throws -> Matrix {
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

    public func flush() throws -> Matrix { Matrix(rows: 0, cols: encoder.vocabularySize) }
    public func reset() { state.reset() }
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

/// What the CTC stage publishes for each chunk: utterances closed by an endpoint in this chunk, and
/// the hypothesis of the utterance still open (nil when it is empty).
public struct RecognitionUpdate: Sendable {
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

/// CTC logits → partial hypotheses and final utterances. Endpointing looks at the arg-max path (a
/// frame is speech when its best symbol is not the blank), so it behaves the same for greedy and
/// beam decoding. The encoder state is not reset at an endpoint, so cutting a stream into
/// utterances does not change the acoustics, and `transcribe` (which uses this same stage) gives the
/// same text as `stream`.
public final class CTCStage: PipelineStage {
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
        self.init(vocabulary: encoder.config.vocab, frameDuration: Recognizer.frameDuration(of: encoder),
                  decoder: decoder, endpoint: endpoint)
    }

    public func process(_ logits: Matrix) throws -> RecognitionUpdate {
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
    public func flush() throws -> RecognitionUpdate {
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
        let t = Recognizer.transcript(tokens, vocab: vocabulary, frameDuration: frameDuration,
                                      duration: Double(frames - utteranceStart) * frameDuration)
        let words = t.words.map { WordTiming(word: $0.word, start: $0.start + offset, end: $0.end + offset) }
        return Utterance(text: t.text, words: words, start: words.first?.start ?? offset, end: Double(frames) * frameDuration)
    }
}
