import Foundation
import SSMModels
import SSMSpeech
import SSMTensor
import SSMTestSupport
import XCTest

/// Many streams through one `RecognitionBatch`: each stream's result is what the stream gives alone,
/// however the streams' audio is chunked and interleaved.
final class RecognitionBatchTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Tiny random model, float32: five streams of different audio and rates, queued in random-size
    /// pieces in a random order and advanced together after every few pieces, give the transcripts
    /// (text, word timings, utterance boundaries) of the same audio fed to a lone stream.
    func testInterleavedStreamsEqualLoneStreams() throws {
        let config = EncoderConfig(mixer: .mamba, dModel: 16, layers: 2, norm: .rmsnorm,
                                   mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 1),
                                   vocab: ["<blank>", " ", "a", "b", "c"])
        var endpoint = EndpointConfig.default
        endpoint.maxUtterance = 0.45  // several utterances per stream (a random model hardly pauses)
        let recognizer = SpeechRecognizer(encoder: try RandomWeights.encoder(config, seed: 21), endpoint: endpoint)
        var rng = SeededRandom(seed: 9)
        let rates = [16_000, 8_000, 44_100, 16_000, 48_000]
        let audio: [[Float]] = rates.enumerated().map { k, rate in
            let n = Int(Double(2 + k) * 0.6 * Double(rate))
            let w = Float(0.03 + 0.01 * Double(k)) * 16_000 / Float(rate)
            return (0..<n).map { i in (i / (rate / 2)) % 3 == 2 ? 0 : 0.3 * sinf(Float(i) * w) + 0.1 * rng.normal() }
        }
        let alone = zip(audio, rates).map { recognizer.transcribe(samples: $0, sampleRate: $1) }
        XCTAssertTrue(alone.allSatisfy { !$0.words.isEmpty }, "the test needs non-empty hypotheses")

        let batch = RecognitionBatch(recognizer: recognizer, maxBatch: 3, minBatchRows: 2)  // 5 streams: several products per round
        let streams = rates.map { _ in recognizer.makeStream() }
        var offsets = [Int](repeating: 0, count: streams.count)
        var finals = [[Utterance]](repeating: [], count: streams.count)
        var rounds = 0
        while offsets.indices.contains(where: { offsets[$0] < audio[$0].count }) {
            for _ in 0..<3 {
                let k = Int(rng.uniform(0, 1) * Float(streams.count)) % streams.count
                guard offsets[k] < audio[k].count else { continue }
                let n = 1 + Int(rng.uniform(0, 1) * Float(rates[k] / 10))
                let end = min(audio[k].count, offsets[k] + n)
                streams[k].queue(samples: Array(audio[k][offsets[k]..<end]), sampleRate: rates[k])
                offsets[k] = end
            }
            for (k, u) in batch.advance(streams).enumerated() { finals[k] += u.finals }
            XCTAssertTrue(streams.allSatisfy { $0.queuedFrames == 0 }, "advance runs every queued frame")
            rounds += 1
        }
        XCTAssertGreaterThan(rounds, 20)
        for (k, s) in streams.enumerated() {
            finals[k] += s.finishUpdates().flatMap(\.finals)
            XCTAssertEqual(Transcript(utterances: finals[k], duration: s.duration), alone[k], "stream \(k)")
            XCTAssertEqual(s.finish(), alone[k], "stream \(k)")
        }
        XCTAssertGreaterThan(finals.map(\.count).max() ?? 0, 1, "the test needs several utterances in a stream")
    }

    /// The shipped model, the bundled recording: three streams in 20 ms pieces at 48, 16 and 8 kHz,
    /// batched, give what each gives alone, and the 16 kHz one `transcribe`'s text. Float32 weights and
    /// greedy decoding, so that only the encoder's batching differs (CTC runs per stream either way):
    /// with int8 weights a lone stream runs the int8 kernel while a batch runs a float32 SGEMM, and the
    /// beam search with its LM settles near-ties on the rounding ("spouse" / "poisoned" on this sample
    /// with the stage 6 model).
    func testShippedModelBatchedEqualsTranscribe() throws {
        var options = RecognizerOptions()
        options.precision = .float32
        options.decoding = .greedy
        let recognizer = try SpeechRecognizer(model: Self.repo.appendingPathComponent("Resources/models/mamba-30ms").path,
                                              options: options)
        let sample = Self.repo.appendingPathComponent("Resources/samples/sample.wav").path
        let rates = [48_000, 16_000, 8_000]
        let audio = try rates.map { try AudioFile.read(path: sample, sampleRate: $0).samples }
        let fileText = try recognizer.transcribe(contentsOf: sample).text  // the 16 kHz file
        let batch = RecognitionBatch(recognizer: recognizer, minBatchRows: 2)  // batched even for 2 streams
        let streams = rates.map { _ in recognizer.makeStream() }
        var offset = 0
        while audio.indices.contains(where: { offset * rates[$0] / 50 < audio[$0].count }) {
            for k in streams.indices {
                let piece = rates[k] / 50, a = min(audio[k].count, offset * piece), b = min(audio[k].count, a + piece)
                if a < b { streams[k].queue(samples: Array(audio[k][a..<b]), sampleRate: rates[k]) }
            }
            _ = batch.advance(streams)
            offset += 1
        }
        // Each batched stream against a lone stream fed the same pieces (resampling 48 or 8 kHz in
        // 20 ms pieces is not the file's 16 kHz, so those two are compared with their own lone stream),
        // and the 16 kHz one against `transcribe` of the file.
        for k in streams.indices {
            let lone = recognizer.makeStream(), piece = rates[k] / 50
            for a in stride(from: 0, to: audio[k].count, by: piece) {
                _ = lone.accept(samples: Array(audio[k][a..<min(audio[k].count, a + piece)]), sampleRate: rates[k])
            }
            let text = streams[k].finish().text
            XCTAssertEqual(text, lone.finish().text, "\(rates[k]) Hz")
            if rates[k] == 16_000 { XCTAssertEqual(text, fileText) }
        }
        XCTAssertFalse(fileText.isEmpty)
    }
}
