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
    func makeModel() throws -> String {
        let c = EncoderConfig(mixer: .mamba, d_model: 16, n_layers: 1, norm: .rmsnorm,
                              mamba: .init(d_state: 4, d_conv: 4, expand: 2, dt_rank: 1), vocab: ["<blank>", " ", "a", "b"])
        let dir = tmp.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try JSONEncoder().encode(c).write(to: dir.appendingPathComponent("config.json"))
        try SafeTensors.serialize(RandomWeights.encoderTensors(c, seed: 3)).write(to: dir.appendingPathComponent("model.safetensors"))
        return dir.path
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

    func testDecoderOptions() throws {
        let model = try makeModel()
        let a = try makeWav("a.wav", seconds: 1, rate: 16_000, channels: 1)
        // A tiny LM over the model's symbols: the beam search with it runs end to end.
        let arpa = tmp.appendingPathComponent("lm.arpa").path
        try "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.5\t</s>\n-0.5\ta\t-0.3\n-0.7\tb\t-0.3\n\n\\end\\\n"
            .write(toFile: arpa, atomically: true, encoding: .utf8)
        for args in [["--decoder", "greedy"], ["--decoder", "beam", "--beam", "4"], ["--lm", arpa, "--lm-weight", "0.8"]] {
            let r = try run(["transcribe", "--model", model] + args + [a])
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
            XCTAssertEqual(r.out.filter { $0 == "\n" }.count, 1, "\(args)")
        }
        let missing = try run(["transcribe", "--model", model, "--lm", tmp.appendingPathComponent("none.arpa").path, a])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.hasPrefix("error: ") && missing.err.contains("none.arpa"), missing.err)
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
