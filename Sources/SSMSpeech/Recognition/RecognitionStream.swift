// RecognitionStream.swift: one stream of audio through the recognizer, chunk by chunk.

import Foundation
import SSMTensor

/// One stream of audio: feed samples as they arrive (any chunk size, any supported rate), read the
/// partial hypothesis, collect utterances as endpoints close them, and `finish()` at the end.
///
///     let stream = recognizer.makeStream()
///     for chunk in microphoneChunks {                       // e.g. 20 ms at 48 kHz
///         let update = stream.accept(samples: chunk, sampleRate: 48_000)
///         for u in update.finals { print(u.text) }          // closed by an endpoint
///         if let p = update.partial { show(p.text) }        // may still change
///     }
///     let transcript = stream.finish()
///
/// Inside, the samples are resampled to 16 kHz, turned into log-mel frames, run through the encoder
/// in recurrent mode and decoded with endpointing. The result does not depend on how the audio is
/// chunked, and the finals of a stream, joined, equal `SpeechRecognizer.transcribe` on the same audio.
/// `accept` does not throw and allocates little per chunk; a stream is used by one thread at a time.
/// The thread that calls `accept` gets flush-to-zero (denormals as zero) switched on for the rest of
/// its life: recurrent states decaying into denormals would otherwise make steps 100× slower.
public final class RecognitionStream {
    public let recognizer: SpeechRecognizer
    private let resample = ResampleStage()
    private let features = FeatureStage()
    let encoderPart: EncoderStage
    /// (T, F) log-mel frames queued by `queue(samples:sampleRate:)` for a `RecognitionBatch`, not yet
    /// through the encoder.
    var queued: Matrix
    private let ctc: CTCStage
    private var finals: [Utterance] = []
    private var open: Utterance?
    /// Samples seen at 16 kHz (after resampling).
    private var samples16k = 0
    private var finished = false

    init(recognizer: SpeechRecognizer) {
        self.recognizer = recognizer
        encoderPart = EncoderStage(encoder: recognizer.encoder)
        queued = Matrix(rows: 0, cols: recognizer.encoder.config.nMels)
        ctc = CTCStage(encoder: recognizer.encoder, decoder: recognizer.decoder, endpoint: recognizer.endpoint)
    }

    /// Feeds mono samples at `sampleRate` and returns what this chunk changed: utterances an endpoint
    /// closed, and the open utterance's hypothesis. The rate may change between calls. A rate outside
    /// `AudioLimits.sampleRates` (8 kHz … 768 kHz) is a programming error and stops the program, like an
    /// index out of range; check rates that come from outside (a file or network header) against
    /// `AudioLimits.sampleRates` first. After `finish()`, the stream starts over as if `reset()` had
    /// been called.
    @discardableResult
    public func accept(samples: [Float], sampleRate: Int) -> RecognitionUpdate {
        precondition(AudioLimits.sampleRates.contains(sampleRate),
                     "sample rate \(sampleRate) Hz is outside \(AudioLimits.sampleRates) Hz")
        if finished { reset() }
        return run(resample.resample(AudioBlock(samples: samples, sampleRate: sampleRate)))
    }

    @discardableResult
    public func accept(samples: UnsafeBufferPointer<Float>, sampleRate: Int) -> RecognitionUpdate {
        accept(samples: Array(samples), sampleRate: sampleRate)
    }

    /// Resamples and computes the features of `samples` but leaves them queued for the encoder: a
    /// `RecognitionBatch` then runs many streams' queued frames through the encoder together
    /// (`RecognitionBatch.advance`). Same rate rules as `accept`.
    public func queue(samples: [Float], sampleRate: Int) {
        precondition(AudioLimits.sampleRates.contains(sampleRate),
                     "sample rate \(sampleRate) Hz is outside \(AudioLimits.sampleRates) Hz")
        if finished { reset() }
        let audio16k = resample.resample(AudioBlock(samples: samples, sampleRate: sampleRate))
        samples16k += audio16k.count
        let frames = features.process(audio16k)
        queued.data += frames.data
        queued.rows += frames.rows
    }

    /// Feature frames queued and not yet through the encoder.
    public var queuedFrames: Int { queued.rows }

    @discardableResult
    private func run(_ audio16k: [Float]) -> RecognitionUpdate {
        samples16k += audio16k.count
        let frames = features.process(audio16k)
        if queued.rows > 0 {  // frames queued for a batch come first
            queued.data += frames.data
            queued.rows += frames.rows
            return decode(encoderPart.process(takeQueued()))
        }
        return decode(encoderPart.process(frames))
    }

    /// The queued frames, leaving the queue empty.
    func takeQueued() -> Matrix {
        let frames = queued
        queued.data.removeAll(keepingCapacity: true)
        queued.rows = 0
        return frames
    }

    /// Encoder logits `(L, V)` of this stream → the CTC decoder and endpointing.
    func decode(_ logits: Matrix) -> RecognitionUpdate {
        let update = ctc.process(logits)
        finals += update.finals
        open = update.partial
        return update
    }

    /// End of the stream: the resampler's tail is decoded, the open utterance becomes final, and the
    /// transcript of the whole stream (all its utterances) is returned.
    @discardableResult
    public func finish() -> Transcript {
        _ = finishUpdates()
        return Transcript(utterances: finals, duration: duration)
    }

    /// Like `finish()`, but returns what the end of the stream published, in order: the update for the
    /// audio the resampler still held and any frames still queued (finals and a partial, as `accept`
    /// returns; absent when there were none), then the last utterance as a final. Empty if the stream was already finished.
    public func finishUpdates() -> [RecognitionUpdate] {
        guard !finished else { return [] }
        var updates: [RecognitionUpdate] = []
        let tail = resample.flush()
        if !tail.isEmpty || queued.rows > 0 { updates.append(run(tail)) }  // with frames still queued, if any
        let last = ctc.flush()
        finals += last.finals
        open = nil
        finished = true
        updates.append(last)
        return updates
    }

    /// Starts a new stream (the recurrent state, decoder and resampler start over).
    public func reset() {
        resample.reset(); features.reset(); encoderPart.reset(); ctc.reset()
        queued.data.removeAll(keepingCapacity: true); queued.rows = 0
        finals = []; open = nil; samples16k = 0; finished = false
    }

    /// Seconds of audio seen so far.
    public var duration: Double { Double(samples16k) / Double(resample.outputRate) }

    /// The hypothesis of the utterance still open (nil when it has no words).
    public var partial: Utterance? { open }

    /// Utterances closed so far by endpoints (and, after `finish()`, the last one).
    public var finishedUtterances: [Utterance] { finals }

    /// Everything so far: the finished utterances and the open one's current hypothesis.
    public var current: Transcript {
        Transcript(utterances: finals + (open.map { [$0] } ?? []), duration: duration)
    }
}
