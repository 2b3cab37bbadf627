import Foundation
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMTensor
import SSMTestSupport
import XCTest

final class RecognizerTests: XCTestCase {
    let config = EncoderConfig(mixer: .mamba, d_model: 16, n_layers: 2, norm: .rmsnorm,
                               mamba: .init(d_state: 8, d_conv: 4, expand: 2, dt_rank: 1),
                               vocab: ["<blank>", " ", "a", "b", "c"])

    /// The recognizer's result does not depend on how the audio is chunked.
    func testChunkingDoesNotChangeTheResult() throws {
        let enc = try RandomWeights.encoder(config, seed: 21)
        var rng = SeededRandom(seed: 3)
        let audio = (0..<24_000).map { i in 0.3 * sinf(Float(i) * 0.05) + 0.1 * rng.normal() }
        let whole = Recognizer(encoder: enc)
        whole.accept(audio)
        let reference = whole.current
        XCTAssertEqual(reference.duration, 1.5, accuracy: 1e-9)
        XCTAssertFalse(reference.words.isEmpty, "a random model emits some symbols; the test needs a non-empty hypothesis")
        for chunk in [1, 7, 160, 4096] {
            let r = Recognizer(encoder: enc)
            var i = 0
            while i < audio.count { let j = min(audio.count, i + chunk); r.accept(Array(audio[i..<j])); i = j }
            XCTAssertEqual(r.current, reference, "chunk \(chunk)")
        }
        whole.reset()
        whole.accept(audio)
        XCTAssertEqual(whole.current, reference, "reset starts over")
    }

    func testWordTimingFromCTCFrames() {
        let vocab = ["<blank>", " ", "h", "i", "y", "o"]
        // "hi yo": h@2 i@3 space@5 y@9 o@12 ; 40 ms frames
        let toks = [(2, 2), (3, 3), (1, 5), (4, 9), (5, 12)].map { EmittedToken(token: $0.0, frame: $0.1) }
        let t = Recognizer.transcript(toks, vocab: vocab, frameDuration: 0.04, duration: 1)
        XCTAssertEqual(t.text, "hi yo")
        XCTAssertEqual(t.words.map(\.word), ["hi", "yo"])
        XCTAssertEqual(t.words[0].start, 0.08, accuracy: 1e-9)
        XCTAssertEqual(t.words[0].end, 0.16, accuracy: 1e-9)
        XCTAssertEqual(t.words[1].start, 0.36, accuracy: 1e-9)
        XCTAssertEqual(t.words[1].end, 0.52, accuracy: 1e-9)
    }

    func testFormats() {
        let t = Transcript(text: "hello \"world\"", words: [WordTiming(word: "hello", start: 0.1, end: 0.5),
                                                          WordTiming(word: "\"world\"", start: 0.6, end: 3_661.25)],
                           duration: 3_662)
        XCTAssertEqual(TranscriptFormatter.render(.text, file: "a.wav", transcript: t, rtf: 0.1), "hello \"world\"\n")
        XCTAssertEqual(TranscriptFormatter.render(.tsv, file: "a.wav", transcript: t, rtf: 0.1), "a.wav\thello \"world\"\n")
        let json = TranscriptFormatter.render(.json, file: "a\tb.wav", transcript: t, rtf: 0.1)
        let obj = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        XCTAssertEqual(obj["file"] as? String, "a\tb.wav")
        XCTAssertEqual(obj["text"] as? String, "hello \"world\"")
        XCTAssertEqual(obj["duration"] as? Double, 3_662)
        XCTAssertEqual((obj["words"] as? [[String: Any]])?.last?["end"] as? Double, 3_661.25)
        XCTAssertEqual(json.filter { $0 == "\n" }.count, 1, "JSON Lines: one line per file")
        XCTAssertEqual(TranscriptFormatter.srt(t), "1\n00:00:00,100 --> 00:00:00,500\nhello\n\n2\n00:00:00,600 --> 01:01:01,250\n\"world\"\n\n")
        XCTAssertTrue(TranscriptFormatter.vtt(t).hasPrefix("WEBVTT\n\n00:00:00.100 --> 00:00:00.500\nhello\n\n"))
    }
}
