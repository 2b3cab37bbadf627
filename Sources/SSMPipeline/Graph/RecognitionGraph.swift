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
    /// How the four processing stages map onto nodes (Dispatch queues).
    public enum Layout: String, Sendable, CaseIterable {
        /// source → [resample → features → encoder → CTC] → sink: the four stages run one after the
        /// other on one queue (`FusedStage`). A 40 ms chunk is about 0.2 ms of work, less than four
        /// thread hand-offs on a loaded 2-core machine, and the stages of one stream cannot overlap in
        /// lock-step anyway. The default.
        case fused
        /// One node per stage: stages of successive chunks overlap on different cores (throughput on
        /// long files when cores are free), at the cost of a hand-off per stage per chunk.
        case staged
    }

    public static func make<S: PipelineSource>(
        source: S, encoder: Encoder, decoder: DecoderChoice, endpoint: EndpointConfig = .default,
        capacity: Int = 8, layout: Layout = .fused, sink: @escaping (ChunkInfo, RecognitionUpdate) throws -> Void
    ) -> Pipeline where S.Output == AudioBlock {
        let head = Pipeline.from(source, capacity: capacity)
        let resample = ResampleStage(), features = FeatureStage(), encode = EncoderStage(encoder: encoder)
        let ctc = CTCStage(encoder: encoder, decoder: decoder, endpoint: endpoint)
        switch layout {
        case .fused:
            let work = FusedStage(OneToOne(resample), FusedStage(OneToOne(features), FusedStage(encode, ctc)))
            return head.then(work, capacity: capacity).sink(sink)
        case .staged:
            return head.then(resample, capacity: capacity)
                .then(features, capacity: capacity)
                .then(encode, capacity: capacity)
                .then(ctc, capacity: capacity)
                .sink(sink)
        }
    }

    /// Runs a whole source through the graph and returns the transcript of the stream (its final
    /// utterances joined) and the audio duration in seconds.
    public static func transcribe<S: PipelineSource>(
        source: S, encoder: Encoder, decoder: DecoderChoice, endpoint: EndpointConfig = .default, layout: Layout = .fused
    ) throws -> Transcript where S.Output == AudioBlock {
        var finals: [Utterance] = []
        var duration = 0.0
        let graph = make(source: source, encoder: encoder, decoder: decoder, endpoint: endpoint, layout: layout) { info, update in
            finals += update.finals
            duration = info.audioEnd
        }
        try graph.run()
        return Transcript(utterances: finals, duration: duration)
    }
}
