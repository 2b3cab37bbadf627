// RecognitionGraph.swift: the recognition graph shared by `transcribe`, `stream` and `bench`.

import Dispatch
import Foundation
import SSMModels

/// Assembles the recognition graph:
///
///     source → ResampleStage → FeatureStage → EncoderStage → CTCStage → sink
///
/// Each node runs on its own serial queue; channels hold `capacity` chunks each.
public enum RecognitionGraph {
    public static func make<S: PipelineSource>(
        source: S, encoder: Encoder, decoder: DecoderChoice, endpoint: EndpointConfig = .default,
        capacity: Int = 8, sink: @escaping (ChunkInfo, RecognitionUpdate) throws -> Void
    ) -> Pipeline where S.Output == AudioBlock {
        Pipeline.from(source, capacity: capacity)
            .then(ResampleStage(), capacity: capacity)
            .then(FeatureStage(), capacity: capacity)
            .then(EncoderStage(encoder: encoder), capacity: capacity)
            .then(CTCStage(encoder: encoder, decoder: decoder, endpoint: endpoint), capacity: capacity)
            .sink(sink)
    }

    /// Runs a whole source through the graph and returns the transcript of the stream (its final
    /// utterances joined) and the audio duration in seconds.
    public static func transcribe<S: PipelineSource>(
        source: S, encoder: Encoder, decoder: DecoderChoice, endpoint: EndpointConfig = .default
    ) throws -> Transcript where S.Output == AudioBlock {
        var finals: [Utterance] = []
        var duration = 0.0
        let graph = make(source: source, encoder: encoder, decoder: decoder, endpoint: endpoint) { info, update in
            finals += update.finals
            duration = info.audioEnd
        }
        try graph.run()
        return Transcript(utterances: finals, duration: duration)
    }
}
