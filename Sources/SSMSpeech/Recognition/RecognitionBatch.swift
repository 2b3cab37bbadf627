// RecognitionBatch.swift: many recognition streams through the encoder together.
//
// One stream at a time, every encoder weight matrix is read once per output frame of that stream
// (matrix × vector): memory-bound. A batch collects the streams that have a frame ready and applies
// each weight matrix to all of them at once (matrix × matrix), which is how one core carries a
// hundred streams. Dimension letters: B streams in a batch, T feature frames, F mel bins, D model
// width, V vocabulary symbols.

import Foundation
import SSMModels
import SSMTensor

/// Advances many `RecognitionStream`s of one recognizer with batched encoder steps.
///
///     let batch = RecognitionBatch(recognizer: recognizer)
///     streamA.queue(samples: a, sampleRate: 16_000)      // resampling and features, per stream
///     streamB.queue(samples: b, sampleRate: 8_000)
///     let updates = batch.advance([streamA, streamB])     // encoder batched, then CTC per stream
///
/// The streams need not be in step: each contributes whatever frames it has queued, and every round
/// steps together the streams whose front end completed an output frame. With float32 weights a
/// stream's results are those of `accept` on the same audio, up to the rounding of a matrix product over
/// B rows instead of one (the transcripts of the bundled recordings are the same). With int8 weights (the
/// default) a batch of `minBatchRows` or more runs its products in float32 while a lone stream uses the
/// int8 kernel, so the beam can settle a close call differently (one word of the bundled sample's 11).
/// Not thread-safe: one thread advances a batch, and its streams must not be used elsewhere meanwhile.
public final class RecognitionBatch {
    public let recognizer: SpeechRecognizer
    /// Streams stepped in one matrix product at most; more ready streams take several products.
    public let maxBatch: Int
    /// Fewer ready streams than this are stepped one by one (matrix × vector), which is faster for
    /// small batches. Default 8 with int8 weights (the per-stream int8 kernel against a float SGEMM:
    /// in `ssmspeech serve` under load, thresholds from 2 to 32 were within run-to-run noise of each
    /// other), 4 with float32 weights (`swift run -c release multistream`).
    public let minBatchRows: Int
    private let scratch: Encoder.BatchScratch
    /// Per round: the streams whose front end completed a frame (indices into `advance`'s argument).
    private var ready: [Int] = []
    private var readyStates: [Encoder.State] = []
    private var cursors: [Int] = []
    private var logits: [Matrix] = []

    public init(recognizer: SpeechRecognizer, maxBatch: Int = 128, minBatchRows: Int? = nil) {
        precondition(maxBatch >= 1, "maxBatch must be at least 1")
        self.recognizer = recognizer
        self.maxBatch = maxBatch
        self.minBatchRows = max(2, minBatchRows ?? (recognizer.encoder.precision == .int8 ? 8 : 4))
        scratch = recognizer.encoder.makeBatchScratch(maxBatch: maxBatch)
    }

    /// Runs every frame the streams have queued (`RecognitionStream.queue`) through the encoder,
    /// batched, then through each stream's decoder; returns each stream's update, in order (a stream
    /// with nothing queued reports its open partial and no finals). The streams must come from
    /// recognizers that share this batch's encoder (they may differ in decoding or endpointing), each
    /// stream at most once.
    public func advance(_ streams: [RecognitionStream]) -> [RecognitionUpdate] {
        let encoder = recognizer.encoder
        let f = encoder.config.nMels, v = encoder.vocabularySize
        FloatingPoint.enableFlushToZero()
        cursors.removeAll(keepingCapacity: true)
        cursors.append(contentsOf: repeatElement(0, count: streams.count))
        logits.removeAll(keepingCapacity: true)
        for s in streams {
            precondition(s.recognizer.encoder === encoder, "a stream of a recognizer with another encoder")
            logits.append(Matrix(rows: 0, cols: v))
        }
        while true {
            // Each stream's front end takes frames until it completes one output frame's input.
            ready.removeAll(keepingCapacity: true)
            for (i, s) in streams.enumerated() where cursors[i] < s.queued.rows {
                let state = s.encoderPart.state
                let completed: Bool = s.queued.data.withUnsafeBufferPointer { p in
                    while cursors[i] < s.queued.rows {
                        let row = p.baseAddress! + cursors[i] * f
                        cursors[i] += 1
                        if encoder.stepFrontEnd(row, state: state) { return true }
                    }
                    return false
                }
                if completed { ready.append(i) }
            }
            if ready.isEmpty { break }
            // A few ready streams take the matrix × vector path, one by one.
            if ready.count < minBatchRows {
                for i in ready {
                    let state = streams[i].encoderPart.state
                    encoder.stepBlocks(state: state)
                    logits[i].data.append(contentsOf: UnsafeBufferPointer(start: state.logits.pointer, count: v))
                    logits[i].rows += 1
                }
                continue
            }
            // The blocks and the head for the ready streams, maxBatch at a time.
            for start in stride(from: 0, to: ready.count, by: maxBatch) {
                let part = ready[start..<min(start + maxBatch, ready.count)]
                readyStates.removeAll(keepingCapacity: true)
                for i in part { readyStates.append(streams[i].encoderPart.state) }
                encoder.stepBlocksBatch(states: readyStates, scratch: scratch)
                for (row, i) in part.enumerated() {
                    logits[i].data.append(contentsOf: UnsafeBufferPointer(start: scratch.logits.pointer + row * v, count: v))
                    logits[i].rows += 1
                }
            }
        }
        var updates: [RecognitionUpdate] = []
        updates.reserveCapacity(streams.count)
        for (i, s) in streams.enumerated() {
            _ = s.takeQueued()
            updates.append(s.decode(logits[i]))
        }
        return updates
    }
}
