import Dispatch
import Foundation
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMSpeech
import SSMTensor
import SSMTestSupport
import XCTest

/// Endless sine + noise at 16 kHz in chunks of random size (the audio is generated, never stored).
final class SyntheticAudioSource: PipelineSource {
    let seconds: Double
    var onMinute: ((Int) -> Void)?
    init(seconds: Double) { self.seconds = seconds }
    func run(emit: (AudioBlock, Double) -> Bool) throws {
        var rng = SeededRandom(seed: 11)
        let total = Int(seconds * 16_000)
        var n = 0, minute = 0
        while n < total {
            let len = min(total - n, 200 + Int(rng.uniform(0, 3_000)))
            var block = [Float](repeating: 0, count: len)
            for i in 0..<len { block[i] = 0.3 * sinf(Float(n + i) * 0.05 * (1 + 0.5 * sinf(Float(n + i) * 1e-4))) + 0.05 * rng.normal() }
            n += len
            guard emit(AudioBlock(samples: block, sampleRate: 16_000), Double(n) / 16_000) else { return }
            if n / (60 * 16_000) > minute { minute = n / (60 * 16_000); onMinute?(minute) }
        }
    }
    func stop() {}
}

final class RecognitionPipelineTests: XCTestCase {
    let config = EncoderConfig(mixer: .mamba, dModel: 16, layers: 2, norm: .rmsnorm, subsampleStrides: [3, 1],
                               mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 1),
                               vocab: ["<blank>", " ", "a", "b", "c"])
    static let sample = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Resources/samples/sample.wav").path
    let endpoint = EndpointConfig(trailingSilence: 0.09)

    /// Random weights, with the blank made likely enough that the arg-max path has pauses (endpoints).
    func makeEncoder(blankBias: Float = 1.0, headScale: Float = 1) throws -> Encoder {
        var t = RandomWeights.encoderTensors(config, seed: 21)
        var bias = t["ctc_head.bias"]!
        bias.values[0] += blankBias
        t["ctc_head.bias"] = bias
        var w = t["ctc_head.weight"]!
        w.values = w.values.map { $0 * headScale }
        t["ctc_head.weight"] = w
        return try Encoder(config: config, weights: WeightStore(tensors: t))
    }

    /// Writes `bytes` to a pipe in random pieces with random pauses, from another thread.
    func feedThroughPipe(_ bytes: [UInt8], seed: UInt64) -> Int32 {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let writeEnd = fds[1]
        Thread.detachNewThread {
            writeInRandomPieces(bytes, to: writeEnd, seed: seed, tinyMax: 8, largeMax: 6_000, pauseChance: 0.1, maxPauseMicros: 3_000)
            close(writeEnd)
        }
        return fds[0]
    }

    /// The whole stream's finals, joined, equal file transcription, whatever way the bytes arrive; the
    /// synchronous RecognitionStream agrees too. Greedy and beam decoding, endpoints splitting utterances.
    func testStdinStreamEqualsTranscribeForAnyArrival() throws {
        let enc = try makeEncoder()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.sample)))
        var beamOptions = CTCBeamSearchOptions()
        beamOptions.beamWidth = 4
        for (name, choice) in [("greedy", DecoderChoice.greedy), ("beam", DecoderChoice.beam(lm: nil, options: beamOptions))] {
            let recognizer = SpeechRecognizer(encoder: enc, decoder: choice, endpoint: endpoint)
            var finals: [Utterance] = []
            let graph = RecognitionGraph.make(source: FileAudioSource(path: Self.sample), recognizer: recognizer) { _, u in finals += u.finals }
            try graph.run()
            XCTAssertGreaterThanOrEqual(finals.count, 2, "\(name): endpoints split the stream (the test needs several utterances)")
            let reference = Transcript(utterances: finals, duration: 2.99)
            XCTAssertFalse(reference.words.isEmpty)

            for (seed, readBytes) in [(1, 1), (2, 640), (3, 8_192)] as [(UInt64, Int)] {
                let fd = feedThroughPipe(bytes, seed: seed)
                let t = try RecognitionGraph.transcribe(
                    source: FileDescriptorAudioSource(fileDescriptor: fd, name: "pipe", readBytes: readBytes),
                    recognizer: recognizer)
                close(fd)
                XCTAssertEqual(t.text, reference.text, "\(name), seed \(seed)")
                XCTAssertEqual(t.words, reference.words, "\(name), seed \(seed)")
            }
            let (x, rate) = try AudioFile.read(path: Self.sample)
            XCTAssertEqual(recognizer.transcribe(samples: x, sampleRate: rate).words, reference.words, "\(name): inline stream")
            XCTAssertEqual(try recognizer.transcribe(contentsOf: Self.sample).words, reference.words, "\(name): transcribe(contentsOf:)")
            // one node per part instead of the fused default: the same result
            let staged = try RecognitionGraph.transcribe(source: FileAudioSource(path: Self.sample), recognizer: recognizer,
                                                         layout: .staged)
            XCTAssertEqual(staged.words, reference.words, "\(name): staged layout")
        }
    }

    func testUnreadableFileSurfacesOneError() {
        let enc = try! RandomWeights.encoder(config, seed: 21)
        XCTAssertThrowsError(try RecognitionGraph.transcribe(source: FileAudioSource(path: "/nonexistent.wav"),
                                                             recognizer: SpeechRecognizer(encoder: enc))) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent.wav"), "\(e)")
        }
    }

    /// Malformed WAV on stdin: the parser's error stops the graph and comes out of `run()`.
    func testMalformedStdinSurfaces() throws {
        let enc = try RandomWeights.encoder(config, seed: 21)
        var bytes = Array("RIFF".utf8) + [0xff, 0xff, 0xff, 0xff] + Array("WAVEfmt ".utf8) + [1, 0, 0, 0] // fmt chunk of size 1
        bytes += [UInt8](repeating: 0, count: 64)
        let fd = feedThroughPipe(bytes, seed: 1)
        XCTAssertThrowsError(try RecognitionGraph.transcribe(source: FileDescriptorAudioSource(fileDescriptor: fd),
                                                             recognizer: SpeechRecognizer(encoder: enc)))
        close(fd)
    }

    /// Memory stays flat on a long stream: 20 minutes of audio; resident memory after the first minute
    /// and at the end differ by less than 2 MB.
    func testLongStreamMemoryIsBounded() throws {
        let enc = try RandomWeights.encoder(config, seed: 21)
        let source = SyntheticAudioSource(seconds: 20 * 60)
        var rss: [Int: Double] = [:]
        source.onMinute = { m in rss[m] = currentResidentMegabytes() }
        var finals = 0
        let graph = RecognitionGraph.make(source: source, recognizer: SpeechRecognizer(encoder: enc)) { _, u in finals += u.finals.count }
        try graph.run()
        let first = try XCTUnwrap(rss[1]), last = try XCTUnwrap(rss[20])
        print("long stream: RSS after minute 1 \(first) MB, after minute 20 \(last) MB, \(finals) utterances")
        XCTAssertGreaterThan(finals, 20, "utterances are cut at 30 s even without pauses")
        XCTAssertLessThan(last - first, 2.0)
    }
}

/// Resident set size now (from /proc/self/statm), in MB.
func currentResidentMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let pages = Double(s.split(separator: " ")[1]) ?? 0
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}
