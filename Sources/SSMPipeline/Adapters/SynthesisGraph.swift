// SynthesisGraph.swift: the synthesis graph behind `ssmspeech synthesize`, and its two stages.

import Foundation
import SSMSpeech
import SSMSynthesis

/// Assembles the synthesis graph:
///
///     text source → FrontEndStage (one utterance per message) → SpeechStage → sink (samples)
///
/// The front end of the next line runs while the speech stage is still speaking the previous one; the
/// speech stage passes samples on every `chunkFrames` × 10 ms, so output starts after the first frames of
/// the first utterance rather than after the whole text.
public enum SynthesisGraph {
    public static func make<S: PipelineSource>(
        source: S, synthesizer: SpeechSynthesizer, rate: Float = 1, chunkFrames: Int = 4,
        sink: @escaping (ChunkInfo, [Float]) throws -> Void
    ) -> Pipeline where S.Output == String {
        Pipeline.from(source, capacity: 4)
            .then(FrontEndStage(frontEnd: synthesizer.engine.frontEnd), capacity: 4)
            .then(SpeechStage(synthesizer: synthesizer.engine, lengthScale: SpeechSynthesizer.lengthScale(rate: rate), chunkFrames: chunkFrames),
                  capacity: 16)
            .sink(sink)
    }
}

/// Normalisation, clauses, espeak-ng phonemes, token ids: one text in, its utterances out.
/// Each utterance leaves as soon as it is ready (one element per message), so the speech stage starts
/// on the first sentence of a long line while the rest is still being phonemised.
public final class FrontEndStage: PipelineExpandingStage {
    let frontEnd: TextFrontEnd
    let maxWords: Int
    public init(frontEnd: TextFrontEnd, maxWords: Int = 25) { self.frontEnd = frontEnd; self.maxWords = maxWords }
    public func process(_ text: String, emit: ([Int32]) -> Bool) throws {
        try frontEnd.forEachUtterance(text, maxWords: maxWords) { emit($0) }
    }
    public func flush(emit: ([Int32]) -> Bool) {}
}

/// The acoustic model's recurrent decoder and the vocoder, frame by frame: each utterance's samples leave
/// in chunks of `chunkFrames` frames (hop samples each) as soon as they are final.
public final class SpeechStage: PipelineExpandingStage {
    let synthesizer: Synthesizer
    let session: Synthesizer.Session
    let lengthScale: Float
    let chunkSamples: Int
    private var buffer: [Float] = []

    public init(synthesizer: Synthesizer, lengthScale: Float = 1, chunkFrames: Int = 4) {
        self.synthesizer = synthesizer
        session = synthesizer.makeSession()
        self.lengthScale = lengthScale
        chunkSamples = max(1, chunkFrames) * synthesizer.config.audio.hop
        buffer.reserveCapacity(chunkSamples)
    }

    /// Speaks one utterance (its token ids).
    public func process(_ tokens: [Int32], emit: ([Float]) -> Bool) throws {
        var open = true
        try synthesizer.speak(tokens: tokens, session: session, lengthScale: lengthScale) { samples in
            guard open else { return }
            buffer.append(contentsOf: samples)
            if buffer.count >= chunkSamples {
                open = emit(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        guard open else { return }
        // end of an utterance: pass on what is left, so a line's audio is complete before the next
        if !buffer.isEmpty { guard emit(buffer) else { return }; buffer.removeAll(keepingCapacity: true) }
    }

    public func flush(emit: ([Float]) -> Bool) throws {
        if !buffer.isEmpty { _ = emit(buffer); buffer.removeAll() }
    }
}
