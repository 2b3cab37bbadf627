import Foundation
import SSMAudio
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// End-to-end checks of the `ssmspeech` binary built next to the test bundle.
final class CommandLineTests: XCTestCase {
    var binary: URL!
    var tmp: URL!

    override func setUpWithError() throws {
        // The test bundle lives in .build/<config>/; the executable is built beside it.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        binary = products.appendingPathComponent("ssmspeech")
        // `swift build --build-tests` builds it; a missing binary is a failure, not a skip.
        _ = try XCTUnwrap(FileManager.default.isExecutableFile(atPath: binary.path) ? binary : nil, "ssmspeech not built at \(binary.path)")
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ssmspeech-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    func run(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self), p.terminationStatus)
    }

    /// A model folder with random weights: the transcript is gibberish but the whole path runs.
    /// `blankBias` makes the blank likelier, so that the arg-max path pauses and endpoints happen.
    func makeModel(blankBias: Float = 0) throws -> String {
        let c = EncoderConfig(mixer: .mamba, dModel: 16, layers: 1, norm: .rmsnorm,
                              mamba: .init(dState: 4, dConv: 4, expand: 2, dtRank: 1), vocab: ["<blank>", " ", "a", "b"])
        return try RandomWeights.writeModelFolder(c, seed: 3, blankBias: blankBias, at: tmp.appendingPathComponent("model"))
    }

    /// The random model of RecognitionPipelineTests (blank made likelier): on the bundled speech sample
    /// its arg-max path pauses often enough for several endpoints at 0.09 s.
    func makeSpeechModel() throws -> String {
        let c = EncoderConfig(mixer: .mamba, dModel: 16, layers: 2, norm: .rmsnorm, subsampleStrides: [3, 1],
                              mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 1), vocab: ["<blank>", " ", "a", "b", "c"])
        return try RandomWeights.writeModelFolder(c, seed: 21, blankBias: 1.0, at: tmp.appendingPathComponent("speech-model"))
    }

    /// Runs `ssmspeech args` with `input` written to its stdin in random pieces at random moments.
    /// `interruptAfter`: send SIGINT that many seconds after the input was written, leaving stdin open.
    func runStreaming(_ args: [String], input: [UInt8], seed: UInt64, interruptAfter: Double? = nil)
        throws -> (out: String, err: String, status: Int32) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let inPipe = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inPipe
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = Shared(Data()), e = Shared(Data())
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { o.value = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { e.value = err.fileHandleForReading.readDataToEndOfFile() }
        writeInRandomPieces(input, to: inPipe.fileHandleForWriting.fileDescriptor, seed: seed,
                            tinyMax: 16, largeMax: 9_000, pauseChance: 0.05, maxPauseMicros: 20_000)
        if let delay = interruptAfter {
            usleep(UInt32(delay * 1e6))
            kill(p.processIdentifier, SIGINT)
        } else {
            try inPipe.fileHandleForWriting.close()
        }
        readers.wait()
        p.waitUntilExit()
        return (String(decoding: o.value, as: UTF8.self), String(decoding: e.value, as: UTF8.self), p.terminationStatus)
    }

    func jsonLines(_ s: String) throws -> [[String: Any]] {
        try s.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// `stream` on stdin (WAV header, or raw PCM described by flags), bytes arriving in random pieces at
    /// random moments: the finals joined equal `transcribe` of the same audio.
    func testStreamFinalsEqualTranscribe() throws {
        let model = try makeSpeechModel()
        let speech = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/samples/sample.wav").path
        let endpoint = ["--endpoint-seconds", "0.09"]
        let t = try run(["transcribe", "--model", model, "--format", "json"] + endpoint + [speech])
        XCTAssertEqual(t.status, 0, t.err)
        let expected = try jsonLines(t.out)[0]["text"] as! String
        XCTAssertFalse(expected.isEmpty, "the test needs a non-empty transcript")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: speech)))
        for seed: UInt64 in [1, 2] {
            let r = try runStreaming(["stream", "--model", model, "--json"] + endpoint, input: bytes, seed: seed)
            XCTAssertEqual(r.status, 0, r.err)
            let events = try jsonLines(r.out)
            let finals = events.filter { $0["type"] as? String == "final" }
            XCTAssertGreaterThanOrEqual(finals.count, 2, "endpoints split the stream")
            XCTAssertTrue(events.contains { $0["type"] as? String == "partial" }, "partials while audio arrives")
            XCTAssertTrue(finals.allSatisfy { $0["words"] is [Any] && $0["start"] is Double && $0["end"] is Double })
            XCTAssertEqual(finals.map { $0["text"] as! String }.joined(separator: " "), expected, "seed \(seed)")
        }
        // Raw PCM: 16-bit little-endian interleaved stereo at 22.05 kHz, no header, against the same audio as WAV.
        let wav = try makeWav("s.wav", seconds: 3, rate: 22_050, channels: 2)
        let tw = try run(["transcribe", "--model", model, wav])
        XCTAssertEqual(tw.status, 0, tw.err)
        let raw = Array([UInt8](try Data(contentsOf: URL(fileURLWithPath: wav)))[44...])
        let r = try runStreaming(["stream", "--model", model, "--rate", "22050", "--channels", "2"], input: raw, seed: 3)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").joined(separator: " ") + "\n", tw.out, "plain output: one line per final")
    }

    /// SIGINT in the middle of a stream: the final result is flushed and the exit status is 0.
    func testStreamInterruptFlushesFinal() throws {
        let model = try makeModel()
        let wav = try makeWav("i.wav", seconds: 3, rate: 16_000, channels: 1)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: wav)))
        let r = try runStreaming(["stream", "--model", model, "--json", "--endpoint-seconds", "0"], input: bytes, seed: 4,
                                 interruptAfter: 1.0)
        XCTAssertEqual(r.status, 0, r.err)
        let events = try jsonLines(r.out)
        XCTAssertEqual(events.last?["type"] as? String, "final", r.out)
        XCTAssertEqual(events.filter { $0["type"] as? String == "final" }.count, 1)
    }

    /// A closed stdout (`| head -1`) ends `stream` quietly with status 0.
    func testStreamClosedStdoutIsQuiet() throws {
        let model = try makeModel()
        let wav = try makeWav("c.wav", seconds: 4, rate: 16_000, channels: 1)
        let p = Process()
        p.executableURL = binary
        p.arguments = ["stream", "--model", model, "--json"]
        let out = Pipe(), err = Pipe()
        p.standardInput = FileHandle(forReadingAtPath: wav)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        _ = out.fileHandleForReading.availableData // the first partial
        try out.fileHandleForReading.close()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: e, as: UTF8.self), "")
    }

    func testStreamRejectsBadFormatFlags() throws {
        let cases: [(args: [String], names: String)] = [
            (["--channels", "0"], "channel count 0"), (["--partial-margin", "-1"], "--partial-margin"),
            (["--partial-margin", "nan"], "--partial-margin")]
        for (args, names) in cases {
            let r = try run(["stream"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.hasPrefix("error: "), r.err)
            XCTAssertTrue(r.err.contains(names), "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        }
    }

    /// `bench --json` reports every figure of Docs/INTERFACE.md on the bundled recording and alignment.
    func testBenchJSON() throws {
        let model = try makeSpeechModel()
        let r = try run(["bench", "--model", model, "--json", "--chunk-ms", "160"])
        XCTAssertEqual(r.status, 0, r.err)
        let o = try jsonLines(r.out)[0]
        for key in ["rtf", "chunk_ms_p50", "chunk_ms_p90", "chunk_ms_p99", "chunk_ms_max", "final_ms", "peak_rss_mb"] {
            XCTAssertGreaterThan(o[key] as? Double ?? -1, 0, key)
        }
        XCTAssertEqual(o["audio_seconds"] as? Double ?? 0, 27.13, accuracy: 0.01)
        XCTAssertEqual(o["chunk_size_ms"] as? Int, 160)
        XCTAssertEqual(o["params"] as? Int, try Encoder(directory: model).parameterCount)
        XCTAssertLessThanOrEqual(o["chunk_ms_p50"] as! Double, o["chunk_ms_max"] as! Double)
        // Emission latency is measured over the reference words recognised exactly (few for a random model).
        let matched = try XCTUnwrap(o["emission_words"] as? Int)
        XCTAssertEqual(o["emission_ms_p50"] is Double, matched > 0)
        let table = try run(["bench", "--model", model, "--chunk-ms", "160"])
        XCTAssertTrue(table.out.contains("chunk compute p50/p90/p99/max"), table.out)
    }

    func makeWav(_ name: String, seconds: Double, rate: Int, channels: Int) throws -> String {
        let path = tmp.appendingPathComponent(name).path
        let w = try WAVFileWriter(path: path, sampleRate: rate, channels: channels)
        let n = Int(seconds * Double(rate))
        var rng = SeededRandom(seed: 1)
        try w.write((0..<(n * channels)).map { i in 0.3 * sinf(Float(i) * 0.01) + 0.05 * rng.normal() })
        try w.finish()
        return path
    }

    func testTranscribeJSONLinesInArgumentOrderAndReportsBadFiles() throws {
        let model = try makeModel()
        let a = try makeWav("a.wav", seconds: 2, rate: 44_100, channels: 2)
        let b = try makeWav("b.wav", seconds: 1, rate: 8_000, channels: 1)
        let missing = tmp.appendingPathComponent("missing.wav").path
        let r = try run(["transcribe", "--model", model, "--format", "json", "--jobs", "2", a, missing, b])
        XCTAssertEqual(r.status, 1, "a failed file makes the exit status non-zero")
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let objs = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objs.map { $0["file"] as? String }, [a, b])
        XCTAssertEqual(objs[0]["duration"] as! Double, 2, accuracy: 0.001)
        XCTAssertEqual(objs[1]["duration"] as! Double, 1, accuracy: 0.001)
        XCTAssertNotNil(objs[0]["rtf"] as? Double)
        XCTAssertNotNil(objs[0]["words"] as? [Any])
        let errLines = r.err.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errLines.count, 1)
        XCTAssertTrue(errLines[0].contains(missing), String(errLines[0]))
    }

    func testTSVAndTextFormats() throws {
        let model = try makeModel()
        let a = try makeWav("a.wav", seconds: 1, rate: 16_000, channels: 1)
        let tsv = try run(["transcribe", "--model", model, "--format", "tsv", a, a])
        XCTAssertEqual(tsv.status, 0, tsv.err)
        let rows = tsv.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(rows.count, 2)
        XCTAssertTrue(rows.allSatisfy { $0.hasPrefix(a + "\t") })
        let text = try run(["transcribe", "--model", model, a])
        XCTAssertEqual(text.out, String(rows[0].dropFirst(a.count + 1)) + "\n", "text output is the transcript alone")
    }

    /// A unigram ARPA file over the words "a" and "b" in the temporary folder; returns its path.
    func writeTinyLM(_ name: String) throws -> String {
        let arpa = tmp.appendingPathComponent(name).path
        try "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.5\t</s>\n-0.5\ta\t-0.3\n-0.7\tb\t-0.3\n\n\\end\\\n"
            .write(toFile: arpa, atomically: true, encoding: .utf8)
        return arpa
    }

    func testDecoderOptions() throws {
        let model = try makeModel()
        let a = try makeWav("a.wav", seconds: 1, rate: 16_000, channels: 1)
        // A tiny LM over the model's symbols: the beam search with it runs end to end.
        let arpa = try writeTinyLM("lm.arpa")
        for args in [["--decoder", "greedy"], ["--decoder", "beam", "--beam", "4"], ["--lm", arpa, "--lm-weight", "0.8"]] {
            let r = try run(["transcribe", "--model", model] + args + [a])
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
            XCTAssertEqual(r.out.filter { $0 == "\n" }.count, 1, "\(args)")
        }
        let missing = try run(["transcribe", "--model", model, "--lm", tmp.appendingPathComponent("none.arpa").path, a])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.hasPrefix("error: ") && missing.err.contains("none.arpa"), missing.err)
    }

    /// A model folder's decoding.json supplies the beam settings and the LM (relative to the folder);
    /// flags override it; a broken one is an error naming it, except for the greedy decoder.
    func testModelDecodingSettings() throws {
        let model = try makeModel()
        let a = try makeWav("a.wav", seconds: 1, rate: 16_000, channels: 1)
        let arpa = try writeTinyLM("shared.arpa")
        let settings = (model as NSString).appendingPathComponent("decoding.json")
        func write(_ json: String) throws { try json.write(toFile: settings, atomically: true, encoding: .utf8) }

        try write(#"{"lm": "../shared.arpa", "beam": 4, "lm_weight": 0.7, "word_bonus": 0.5, "unknown_word_log10": -10}"#)
        let ok = try run(["transcribe", "--model", model, a])
        XCTAssertEqual(ok.status, 0, ok.err)

        try write(#"{"lm": "missing.arpa", "beam": 4}"#)
        let missing = try run(["transcribe", "--model", model, a])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.hasPrefix("error: ") && missing.err.contains("missing.arpa"), missing.err)
        let overridden = try run(["transcribe", "--model", model, "--lm", arpa, a])
        XCTAssertEqual(overridden.status, 0, overridden.err)

        try write(#"{"beam": 0}"#)
        let zero = try run(["transcribe", "--model", model, a])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.err.contains("decoding.json") && zero.err.contains("beam"), zero.err)

        try write("{not json")
        let broken = try run(["transcribe", "--model", model, a])
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertEqual(broken.err.split(separator: "\n").count, 1, broken.err)
        XCTAssertTrue(broken.err.hasPrefix("error: ") && broken.err.contains("decoding.json"), broken.err)
        let greedy = try run(["transcribe", "--model", model, "--decoder", "greedy", a])
        XCTAssertEqual(greedy.status, 0, greedy.err)
    }

    func testErrorsAreOneLine() throws {
        let noModel = try run(["transcribe", "--model", "no-such-model", "x.wav"])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertEqual(noModel.out, "")
        XCTAssertTrue(noModel.err.hasPrefix("error: no model 'no-such-model'"), noModel.err)
        XCTAssertEqual(noModel.err.split(separator: "\n").count, 1)
        let badFlag = try run(["transcribe", "--format", "xml", "x.wav"])
        XCTAssertNotEqual(badFlag.status, 0)
        XCTAssertTrue(badFlag.err.hasPrefix("error: "), badFlag.err)
        XCTAssertEqual(badFlag.err.split(separator: "\n").count, 1, badFlag.err)
    }
}
