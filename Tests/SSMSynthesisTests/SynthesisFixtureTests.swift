import Foundation
import SSMTensor
import SSMTestSupport
import XCTest
@testable import SSMSynthesis

/// The Swift synthesizer against the PyTorch reference (`Training/tts/export.py`, float64):
/// the text front end (phoneme strings and token ids through libespeak-ng), and a whole utterance through
/// the acoustic model (durations, mel frames, stepped one frame at a time) and the streaming vocoder
/// (samples, one hop at a time). `tts_tiny` is a random tiny voice; `voice_slt` the shipped one.
final class SynthesisFixtureTests: XCTestCase {
    func testFrontEndMatchesRecipe() throws {
        let fx = try Fixtures.json("tts_frontend")
        let vocab = fx["vocab"] as! [String]
        let fe = try TextFrontEnd(vocab: vocab, phonemizer: try EspeakPhonemizer(voice: "en-us"))
        let cases = fx["cases"] as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 5)
        for c in cases {
            let text = c["text"] as! String
            XCTAssertEqual(try fe.phonemeString(text), c["phonemes"] as! String, "phonemes of \(text)")
            XCTAssertEqual(try fe.tokens(text), (c["tokens"] as! [Int]).map(Int32.init), "tokens of \(text)")
        }
    }

    func testTinyVoiceMatchesReference() throws {
        try checkVoice(directory: Fixtures.path("tts_tiny"), fixture: "tts_tiny")
    }

    func testShippedVoiceMatchesReference() throws {
        let dir = Fixtures.directory.appendingPathComponent("../../Resources/voices/slt").standardizedFileURL.path
        try checkVoice(directory: dir, fixture: "voice_slt")
    }

    func checkVoice(directory: String, fixture: String) throws {
        let fx = try Fixtures.tensors(fixture)
        let tts = try Synthesizer(directory: directory)
        let tokens = fx["tokens"]!.values.map { Int32($0) }
        let plan = tts.acoustic.prepare(tokens: tokens)
        XCTAssertEqual(plan.durations, fx["durations"]!.values.map { Int($0) }, "durations")
        XCTAssertGreaterThan(plan.frames, 10)

        // mel frames: the recurrent decoder in chunks of random sizes (1 = one step at a time)
        let ref = Fixtures.matrix(fx["mel"]!)
        let m = tts.config.audio.nMels
        var rng = SeededRandom(seed: 11)
        for maxRows in [1, 16] {
            let st = tts.acoustic.makeState()
            var mel: [Float] = []
            var t = 0
            while t < plan.frames {
                let rows = min(plan.frames - t, 1 + Int(rng.next() % UInt64(maxRows)))
                tts.acoustic.decode(plan, frames: t..<(t + rows), state: st)
                mel.append(contentsOf: UnsafeBufferPointer(start: st.mel.pointer, count: rows * m))
                t += rows
            }
            XCTAssertEqual(mel.count, ref.data.count)
            XCTAssertLessThan(maxAbsDifference(mel, ref.data), 2e-3, "mel frames, chunks up to \(maxRows)")
        }

        // samples, streamed, for several chunk sizes
        let audio = fx["audio"]!.values
        let peak = audio.map(abs).max() ?? 1
        XCTAssertGreaterThan(peak, 1e-4)
        let session = tts.makeSession()
        var out: [Float] = []
        for chunk in [1, 5, 8, 16] {
            tts.chunkFrames = chunk
            out = []
            let n = try tts.speak(tokens: tokens, session: session) { out.append(contentsOf: $0) }
            XCTAssertEqual(n, audio.count)
            XCTAssertEqual(out.count, audio.count)
            XCTAssertLessThan(maxAbsDifference(out, audio) / peak, 2e-3, "samples (chunk \(chunk), relative to peak \(peak))")
        }

        // the session resets between utterances: the same tokens again give the same samples
        var again: [Float] = []
        try tts.speak(tokens: tokens, session: session) { again.append(contentsOf: $0) }
        XCTAssertEqual(again, out)
    }
}
