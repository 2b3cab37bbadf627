// SynthesisGraph.swift: the synthesis graph behind `ssmspeech synthesize`.

import Foundation
import SSMSynthesis

/// Assembles the synthesis graph:
///
///     text source → FrontEndStage → SpeechStage → sink (samples)
///
/// The front end of the next line runs while the speech stage is still speaking the previous one; the
/// speech stage passes samples on every `chunkFrames` × 10 ms, so output starts after the first frames of
/// the first utterance rather than after the whole text.
public enum SynthesisGraph {
    public static func make<S: PipelineSource>(
        source: S, synthesizer: Synthesizer, lengthScale: Float = 1, chunkFrames: Int = 4,
        sink: @escaping (ChunkInfo, [Float]) throws -> Void
    ) -> Pipeline where S.Output == String {
        Pipeline.from(source, capacity: 4)
            .then(FrontEndStage(frontEnd: synthesizer.frontEnd), capacity: 4)
            .then(SpeechStage(synthesizer: synthesizer, lengthScale: lengthScale, chunkFrames: chunkFrames), capacity: 16)
            .sink(sink)
    }
}
