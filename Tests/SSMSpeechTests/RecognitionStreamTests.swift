import Foundation
import SSMDecoding
import SSMModels
import SSMSpeech
import SSMTensor
import SSMTestSupport
import XCTest

/// The front door with tiny random models: a stream's result does not depend on how (or at what rate)
/// the audio is chunked, and whole-buffer transcription equals the stream.
final class RecognitionStreamTests: XCTestCase {
    let config = EncoderConfig(mixer: .mamba, dModel: 16, layers: 2, norm: .rmsnorm,
                               mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 1),
                               vocab: ["<blank>", " ", "a", "b", "c"])

    func audio(seconds: Double, rate: Int) -> [Float] {
        var rng = SeededRandom(seed: 3)
        let n = Int(seconds * Double(rate))
        let w = 0.05 * 16_000 / Float(rate)
        return (0..<n).map { i in 0.3 * sinf(Float(i) * w) + 0.1 * rng.normal() }
    }

    func feed(_ stream: RecognitionStream, _ x: [Float], chunk: Int, rate: Int) {
        var i = 0
        while i < x.count { let j = min(x.count, i + chunk); stream.accept(samples: Array(x[i..<j]), sampleRate: rate); i = j }
    }

    /// The stream's result does not depend on how the audio is chunked; reset starts over.
    func testChunkingDoesNotChangeTheResult() throws {
        let recognizer = SpeechRecognizer(encoder: try RandomWeights.encoder(config, seed: 21))
        let x = audio(seconds: 1.5, rate: 16_000)
        let whole = recognizer.makeStream()
        whole.accept(samples: x, sampleRate: 16_000)
        let reference = whole.current
        XCTAssertEqual(reference.duration, 1.5, accuracy: 1e-9)
        XCTAssertFalse(reference.words.isEmpty, "a random model emits some symbols; the test needs a non-empty hypothesis")
        for chunk in [1, 7, 160, 4096] {
            let s = recognizer.makeStream()
            feed(s, x, chunk: chunk, rate: 16_000)
            XCTAssertEqual(s.current, reference, "chunk \(chunk)")
        }
        whole.reset()
        whole.accept(samples: x, sampleRate: 16_000)
        XCTAssertEqual(whole.current, reference, "reset starts over")
        XCTAssertEqual(whole.finish(), recognizer.transcribe(samples: x, sampleRate: 16_000), "transcribe(samples:) is the stream")
    }

    /// 48 kHz audio in 20 ms pieces gives the same result as the whole buffer (the resampler inside the
    /// stream does not depend on the split either), and the duration is counted at 16 kHz.
    func testAnyRateAnyChunking() throws {
        let recognizer = SpeechRecognizer(encoder: try RandomWeights.encoder(config, seed: 21))
        let x = audio(seconds: 2, rate: 48_000)
        let reference = recognizer.transcribe(samples: x, sampleRate: 48_000)
        XCTAssertEqual(reference.duration, 2, accuracy: 1e-3)
        let s = recognizer.makeStream()
        feed(s, x, chunk: 960, rate: 48_000)
        XCTAssertEqual(s.finish(), reference)
        // finish() ended the stream; the next accept starts a new one
        s.accept(samples: x, sampleRate: 48_000)
        XCTAssertEqual(s.finish(), reference)
    }

    /// A rate change between chunks is not an error: the old resampler is drained and a new one starts.
    func testRateChangeMidStream() throws {
        let recognizer = SpeechRecognizer(encoder: try RandomWeights.encoder(config, seed: 21))
        let s = recognizer.makeStream()
        s.accept(samples: audio(seconds: 1, rate: 16_000), sampleRate: 16_000)
        s.accept(samples: audio(seconds: 1, rate: 44_100), sampleRate: 44_100)
        XCTAssertEqual(s.finish().duration, 2, accuracy: 2e-3)
    }

    /// At the end of a 48 kHz stream the resampler still holds audio: `finishUpdates` publishes its update
    /// (with a partial, as `accept` would) before the last final; all finals together are `finish()`'s.
    func testFinishUpdatesPublishTheTailThenTheFinal() throws {
        let recognizer = SpeechRecognizer(encoder: try RandomWeights.encoder(config, seed: 21),
                                          endpoint: EndpointConfig(trailingSilence: 0))
        let x = audio(seconds: 1.5, rate: 48_000)
        let s = recognizer.makeStream()
        var finals: [Utterance] = []
        var i = 0
        while i < x.count { let j = min(x.count, i + 960); finals += s.accept(samples: Array(x[i..<j]), sampleRate: 48_000).finals; i = j }
        let ends = s.finishUpdates()
        XCTAssertEqual(ends.count, 2, "the resampler's tail, then the final")
        XCTAssertNotNil(ends[0].partial, "the tail's update carries the open utterance's hypothesis")
        XCTAssertNil(ends[1].partial)
        finals += ends.flatMap(\.finals)
        XCTAssertEqual(Transcript(utterances: finals, duration: s.duration), s.finish())
        XCTAssertEqual(s.finishUpdates(), [], "already finished")
    }

    /// Options set in code are checked: a beam of width 0 is a clear error, not a crash.
    func testInvalidBeamWidthIsAnError() {
        var o = RecognizerOptions()
        o.beamWidth = 0
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Resources/models/mamba-30ms").path
        XCTAssertThrowsError(try SpeechRecognizer(model: model, options: o)) { e in
            XCTAssertEqual(e as? SpeechError, .invalidOption("beamWidth must be at least 1, got 0"))
        }
    }

    func testWordTimingFromCTCFrames() {
        let vocab = ["<blank>", " ", "h", "i", "y", "o"]
        // "hi yo": h@2 i@3 space@5 y@9 o@12 ; 40 ms frames
        let toks = [(2, 2), (3, 3), (1, 5), (4, 9), (5, 12)].map { EmittedToken(token: $0.0, frame: $0.1) }
        let t = Transcript(tokens: toks, vocabulary: vocab, frameDuration: 0.04, duration: 1)
        XCTAssertEqual(t.text, "hi yo")
        XCTAssertEqual(t.words.map(\.word), ["hi", "yo"])
        XCTAssertEqual(t.words[0].start, 0.08, accuracy: 1e-9)
        XCTAssertEqual(t.words[0].end, 0.16, accuracy: 1e-9)
        XCTAssertEqual(t.words[1].start, 0.36, accuracy: 1e-9)
        XCTAssertEqual(t.words[1].end, 0.52, accuracy: 1e-9)
    }

    /// The synthesizer's three ways of speaking (whole, callback, async stream) give the same samples.
    func testSynthesizerWholeCallbackAndAsyncAgree() async throws {
        let tts = try SpeechSynthesizer(voice: Fixtures.path("tts_tiny"))
        let text = "One sentence. And another one."
        let whole = try tts.synthesize(text)
        XCTAssertGreaterThan(whole.count, 1_600)
        var called: [Float] = []
        XCTAssertEqual(try tts.speak(text) { called += $0 }, whole.count)
        XCTAssertEqual(called, whole)
        var streamed: [Float] = [], chunks = 0
        for try await chunk in tts.speak(text) { streamed += chunk; chunks += 1 }
        XCTAssertEqual(streamed, whole)
        XCTAssertGreaterThan(chunks, 2, "the audio arrives in pieces")
        // breaking out early is fine (the producer stops)
        for try await _ in tts.speak(text) { break }
    }

    /// Loading errors are the modules' one-line errors, naming the path.
    func testMissingModelFolderNamesThePath() {
        XCTAssertThrowsError(try SpeechRecognizer(model: "/nonexistent/model")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/model"), "\(e)")
        }
        XCTAssertThrowsError(try SpeechSynthesizer(voice: "/nonexistent/voice")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/voice"), "\(e)")
        }
    }
}
