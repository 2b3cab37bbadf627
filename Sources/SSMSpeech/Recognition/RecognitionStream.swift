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
public final class RecognitionStream {
    public let recognizer: SpeechRecognizer
    private let resample = ResampleStage()
    private let features = FeatureStage()
    private let encoderPart: EncoderStage
    private let ctc: CTCStage
    private var finals: [Utterance] = []
    private var open: Utterance?
    /// Samples seen at 16 kHz (after resampling).
    private var samples16k = 0
    private var finished = false

    init(recognizer: SpeechRecognizer) {
        self.recognizer = recognizer
        encoderPart = EncoderStage(encoder: recognizer.encoder)
        ctc = CTCStage(encoder: recognizer.encoder, decoder: recognizer.decoder, endpoint: recognizer.endpoint)
    }

    /// Feeds mono samples at `sampleRate` (8 kHz … 768 kHz; it may change between calls) and returns
    /// what this chunk changed: utterances an endpoint closed, and the open utterance's hypothesis.
    /// After `finish()`, the stream starts over as if `reset()` had been called.
    @discardableResult
    public func accept(samples: [Float], sampleRate: Int = 16_000) -> RecognitionUpdate {
        if finished { reset() }
        return run(resample.process(AudioBlock(samples: samples, sampleRate: sampleRate)))
    }

    @discardableResult
    public func accept(samples: UnsafeBufferPointer<Float>, sampleRate: Int = 16_000) -> RecognitionUpdate {
        accept(samples: Array(samples), sampleRate: sampleRate)
    }

    @discardableResult
    private func run(_ audio16k: [Float]) -> RecognitionUpdate {
        samples16k += audio16k.count
        let update = ctc.process(encoderPart.process(features.process(audio16k)))
        finals += update.finals
        open = update.partial
        return update
    }

    /// End of the stream: the resampler's tail is decoded, the open utterance becomes final, and the
    /// transcript of the whole stream (all its utterances) is returned.
    @discardableResult
    public func finish() -> Transcript {
        if !finished {
            run(resample.flush())
            finals += ctc.flush().finals
            open = nil
            finished = true
        }
        return Transcript(utterances: finals, duration: duration)
    }

    /// Like `finish()`, but returns only what the end of the stream added (the last utterance).
    public func finishUpdate() -> RecognitionUpdate {
        let before = finals.count
        _ = finish()
        return RecognitionUpdate(finals: Array(finals[before...]), partial: nil)
    }

    /// Starts a new stream (the recurrent state, decoder and resampler start over).
    public func reset() {
        resample.reset(); features.reset(); encoderPart.reset(); ctc.reset()
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
