// RecognitionGraph.swift: the recognition graph shared by `transcribe`, `stream` and `bench`.

import Dispatch
import Foundation
import SSMSpeech

/// Assembles the recognition graph:
///
///     source → [RecognitionStream: resample → features → encoder → CTC] → sink      (fused, default)
///     source → ResampleStage → FeatureStage → EncoderStage → CTCStage → sink         (staged)
///
/// Each node runs on its own serial queue; channels hold `capacity` chunks each. The graph only
/// moves chunks between threads: the recognition itself is the engine's (`RecognitionStream`, or its
/// four parts one per node), so a graph and a stream give the same text.
public enum RecognitionGraph {
    /// How the recognition work maps onto nodes (Dispatch queues).
    public enum Layout: String, Sendable, CaseIterable {
        /// source → [stream] → sink: one `RecognitionStream` on one queue. A 40 ms chunk is about
        /// 0.2 ms of work, less than four thread hand-offs on a loaded 2-core machine, and the parts of
        /// one stream cannot overlap in lock-step anyway. The default.
        case fused
        /// One node per part: parts of successive chunks overlap on different cores (throughput on
        /// long files when cores are free), at the cost of a hand-off per part per chunk.
        case staged
    }

    public static func make<S: PipelineSource>(
        source: S, recognizer: SpeechRecognizer, capacity: Int = 8, layout: Layout = .fused,
        sink: @escaping (ChunkInfo, RecognitionUpdate) throws -> Void
    ) -> Pipeline where S.Output == AudioBlock {
        let head = Pipeline.from(source, capacity: capacity)
        switch layout {
        case .fused:
            return head.then(StreamStage(recognizer.makeStream()), capacity: capacity).sink(sink)
        case .staged:
            return head.then(ResampleStage(), capacity: capacity)
                .then(FeatureStage(), capacity: capacity)
                .then(EncoderStage(encoder: recognizer.encoder), capacity: capacity)
                .then(CTCStage(encoder: recognizer.encoder, decoder: recognizer.decoder, endpoint: recognizer.endpoint),
                      capacity: capacity)
                .sink(sink)
        }
    }

    /// Runs a whole source through the graph and returns the transcript of the stream (its final
    /// utterances joined) and the audio duration in seconds.
    public static func transcribe<S: PipelineSource>(
        source: S, recognizer: SpeechRecognizer, layout: Layout = .fused
    ) throws -> Transcript where S.Output == AudioBlock {
        var finals: [Utterance] = []
        var duration = 0.0
        let graph = make(source: source, recognizer: recognizer, layout: layout) { info, update in
            finals += update.finals
            duration = info.audioEnd
        }
        try graph.run()
        return Transcript(utterances: finals, duration: duration)
    }
}

/// A whole `RecognitionStream` as one node: audio blocks in, one update per block out; at the end, the
/// update for the resampler's tail (if any) and then the last final. A block at a rate the stream
/// cannot take (outside `AudioLimits.sampleRates`) stops the graph with an `AudioError`.
public final class StreamStage: PipelineExpandingStage {
    let stream: RecognitionStream
    public init(_ stream: RecognitionStream) { self.stream = stream }
    public func process(_ block: AudioBlock, emit: (RecognitionUpdate) -> Bool) throws {
        try AudioLimits.validate(sampleRate: block.sampleRate, channels: 1, source: "audio block")
        _ = emit(stream.accept(samples: block.samples, sampleRate: block.sampleRate))
    }
    public func flush(emit: (RecognitionUpdate) -> Bool) {
        for update in stream.finishUpdates() { guard emit(update) else { return } }
    }
}

// The engine's recognition parts already have the shape of a stage (`process` a chunk, `flush` at the end).
extension ResampleStage: PipelineStage {}
extension FeatureStage: PipelineStage {}
extension EncoderStage: PipelineStage {}
extension CTCStage: PipelineStage {}
