// Bad numbers through the built `ssmspeech` binary (issue: reliability, classes 1, 2, 3 and the loader
// messages of 15): non-finite or huge flag values, sizes in configs and language models that would
// allocate without bound, weights that are not finite, and files that are directories or have no name.
// Each case must end in one `error: …` line naming the flag, file, field or tensor, a non-zero exit
// status and nothing on stdout: never a trap, an abort, a hang or garbage with exit status 0.
// The ranges are `RecognizerOptions`' (flags), `CTCBeamSearchOptions`' (decoding.json), `SizeLimits` and
// `TTSConfig`'s (configs), `SafeTensors.maxMagnitude` (weights).

import Foundation
import SSMTestSupport
import XCTest

extension BadInputCLITests {
    /// Runs `args` and expects a failure before anything is printed: status `status` (or any non-zero),
    /// empty stdout, one error line containing every string of `naming`.
    @discardableResult
    func assertRefused(_ args: [String], status: Int32? = nil, naming: [String], file: StaticString = #filePath,
                       line: UInt = #line) throws -> Run {
        let r = try run(args, timeout: 60)
        if let status { XCTAssertEqual(r.status, status, "\(args): \(r.err)", file: file, line: line) }
        XCTAssertNotEqual(r.status, 0, "\(args)", file: file, line: line)
        XCTAssertEqual(r.out, "", "\(args)", file: file, line: line)
        assertOneErrorLine(r, naming: naming, file: file, line: line)
        return r
    }

    /// A copy of the tiny test model (no LM), with `edit` applied to the folder.
    func tinyModelCopy(_ name: String, _ edit: (URL) throws -> Void = { _ in }) throws -> String {
        let dir = tmp.appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: Self.model, toPath: dir.path)
        try edit(dir)
        return dir.path
    }

    /// A copy of the tiny fixture voice whose `config.json` is changed by `edit`.
    func tinyVoiceCopy(_ name: String, config edit: ((inout [String: Any]) -> Void)? = nil) throws -> String {
        try copyFolder(Fixtures.path("tts_tiny"), as: name, config: edit)
    }

    func editSection(_ c: inout [String: Any], _ section: String, _ key: String, _ value: Any) {
        var s = c[section] as! [String: Any]
        s[key] = value
        c[section] = s
    }

    // MARK: - 1. Numeric flags: finite, documented ranges

    /// `--endpoint-seconds inf` (or 3e17) trapped converting to Int in transcribe, stream and bench; NaN,
    /// infinite and negative LM weights, bonuses and unknown-word scores were accepted and decoded
    /// garbage. Now every flag is checked against `RecognizerOptions`' range before anything is loaded
    /// (status 64, a usage error), and `--help` states the ranges.
    func testNonFiniteAndHugeFlagValuesAreRefused() throws {
        let commands: [[String]] = [["transcribe", Self.good], ["stream"], ["bench"]]
        for c in commands {
            for v in ["inf", "3e17", "nan", "-1"] {
                try assertRefused([c[0], "--model", Self.model, "--endpoint-seconds=\(v)"] + c.dropFirst(), status: 64,
                                  naming: ["--endpoint-seconds must be", "got \(v == "3e17" ? "3e+17" : v)"])
            }
        }
        let cases: [(String, String)] = [
            ("--lm-weight=nan", "--lm-weight must be a number between 0 and 10, got nan"),
            ("--lm-weight=inf", "--lm-weight must be at most 10, got inf"),
            ("--lm-weight=-100", "--lm-weight must be at least 0, got -100"),
            ("--word-bonus=nan", "--word-bonus must be a number between -20 and 20, got nan"),
            ("--word-bonus=-inf", "--word-bonus must be at least -20, got -inf"),
            ("--unknown-word-log10=inf", "--unknown-word-log10 must be at most 0, got inf"),
            ("--partial-margin=nan", "--partial-margin must be a number >= 0 (or inf), got nan"),
            ("--partial-margin=-1", "--partial-margin must be at least 0, got -1"),
            ("--beam=0", "--beam must be at least 1, got 0"),
            ("--threads=1000", "--threads must be at most 64, got 1000"),
        ]
        for (flag, message) in cases {
            try assertRefused(["transcribe", "--model", Self.model, flag, Self.good], status: 64, naming: [message])
        }
        try assertRefused(["synthesize", "--voice", Fixtures.path("tts_tiny"), "--rate=nan", "-o", tmp.path + "/x.wav", "Hi."],
                          status: 64, naming: ["--rate must be a number between 0.5 and 2, got nan"])
        // The edges of the ranges are accepted: an infinite partial margin, the largest endpoint.
        let ok = try run(["transcribe", "--model", Self.model, "--format", "tsv", "--partial-margin", "inf",
                          "--endpoint-seconds", "3600", "--lm-weight", "10", "--word-bonus=-20", Self.good])
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(ok.out, Self.goodLine)
        // --help states every range.
        let help = try run(["transcribe", "--help"]).out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for range in ["Beam width, 1 … 1024", "0 … 10", "-20 … 20", "-100 … 0", "nats (0 … inf)", "1 … 64", "0 … 3600"] {
            XCTAssertTrue(help.contains(range), "'\(range)' not in transcribe --help: \(help)")
        }
    }

    // MARK: - 2. Sizes that would allocate without bound

    /// `--beam 100000000` (and `"beam": 1e12` in decoding.json) aborted allocating tens of GB; an ARPA file
    /// declaring 999,999,999,999 unigrams aborted reserving 4 TB; `n_layers` 1e12 in a model config and
    /// layer counts of 1e12 in a voice config aborted; a voice sample rate of 1e12 trapped in the WAV
    /// writer. Now each count is checked against its maximum (and an ARPA count against the file's size)
    /// before anything is reserved, in a few MB, and the error names the file and the field.
    func testHugeSizesAreRefusedBeforeAllocating() throws {
        let r = try assertRefused(["transcribe", "--model", Self.model, "--beam", "100000000", Self.good], status: 64,
                                  naming: ["--beam must be at most 1024, got 100000000"])
        XCTAssertFalse(r.timedOut)

        let beam = try tinyModelCopy("beam1e12") { dir in
            try #"{"beam": 1e12}"#.write(to: dir.appendingPathComponent("decoding.json"), atomically: true, encoding: .utf8)
        }
        try assertRefused(["transcribe", "--model", beam, Self.good], status: 2,
                          naming: [beam + "/decoding.json", "beam must be at most 1024, got 1000000000000"])

        let arpa = try write("huge.arpa", Array("\\data\\\nngram 1=999999999999\n\n\\1-grams:\n-1.0\t<s>\n\\end\\\n".utf8))
        let lm = try run(["transcribe", "--model", Self.model, "--lm", arpa, Self.good], timeout: 60, sampleRSS: true)
        XCTAssertEqual(lm.status, 2)
        assertOneErrorLine(lm, naming: [arpa, "ARPA line 2", "declares 999999999999 1-grams, more than the"])
        XCTAssertLessThan(lm.peakRSSkB, 1_000_000, "refused before reserving")

        let layers = try tinyModelCopy("layers1e12") { dir in
            let url = dir.appendingPathComponent("config.json")
            var c = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            c["n_layers"] = 1e12
            try JSONSerialization.data(withJSONObject: c).write(to: url)
        }
        try assertRefused(["transcribe", "--model", layers, Self.good], status: 2,
                          naming: [layers + "/config.json", "n_layers must be at most 256, got 1000000000000"])

        let out = tmp.appendingPathComponent("out.wav").path
        let voices: [(String, String, String, Any)] = [
            ("acoustic", "enc_layers", "acoustic.enc_layers must be at most 256", 1e12),
            ("acoustic", "dur_layers", "acoustic.dur_layers must be at most 256", 1e12),
            ("acoustic", "dec_layers", "acoustic.dec_layers must be at most 256", 1e12),
            ("vocoder", "layers", "vocoder.layers must be at most 256", 1e12),
            ("audio", "sample_rate", "audio.sample_rate must be at most 768000, got 1000000000000", 1e12),
        ]
        for (section, key, message, value) in voices {
            let voice = try tinyVoiceCopy("\(section)-\(key)") { self.editSection(&$0, section, key, value) }
            try assertRefused(["synthesize", "--voice", voice, "-o", out, "Hello."], status: 1,
                              naming: [voice + "/config.json", message])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output for a refused voice")
        }
    }

    // MARK: - 3. Weights that are not finite

    /// Little-endian bytes of `x` as Float32.
    static func f32Bytes(_ x: Float) -> [UInt8] { withUnsafeBytes(of: x.bitPattern.littleEndian) { Array($0) } }

    /// The shipped model with one value of `tensor` (at element `index`) replaced by `value`.
    func modelWithValue(_ name: String, tensor: String, index: Int = 0, value: Float) throws -> String {
        let (header, data) = try splitSafetensors(try shippedWeights)
        var d = data
        let offsets = (header[tensor] as! [String: Any])["data_offsets"] as! [Int]
        d.replaceSubrange((offsets[0] + 4 * index)..<(offsets[0] + 4 * index + 4), with: Self.f32Bytes(value))
        return try corruptModel(name, weights: try joinSafetensors(header, d))
    }

    /// A model with a single NaN (or Inf) crashed the beam decoder in transcribe, stream and bench, and
    /// greedy decoding printed garbage; 1e30 everywhere crashed the beam decoder too. A vocoder with NaN
    /// weights wrote seconds of constant −1 with exit status 0, and an acoustic model with NaN weights
    /// said "nothing to speak". Now weights are checked when the file is read (finite, within
    /// ±SafeTensors.maxMagnitude), and the error names the file and the tensor.
    func testNonFiniteWeightsAreRefusedAtLoad() throws {
        let nan = try modelWithValue("nan", tensor: "layers.3.ffn.fc1.weight", index: 5, value: .nan)
        let good: String = Self.good
        let commands: [[String]] = [["transcribe", "--decoder", "beam", good], ["transcribe", "--decoder", "greedy", good],
                                    ["stream"], ["bench", "--audio", good]]
        for args in commands {
            try assertRefused([args[0], "--model", nan] + args.dropFirst(), status: 2,
                              naming: [nan + "/model.safetensors", "tensor 'layers.3.ffn.fc1.weight' holds nan at element 5",
                                       "finite"])
        }
        let inf = try modelWithValue("inf", tensor: "ctc_head.bias", index: 2, value: -.infinity)
        try assertRefused(["transcribe", "--model", inf, Self.good], status: 2,
                          naming: [inf + "/model.safetensors", "tensor 'ctc_head.bias' holds -inf at element 2"])
        // 1e30 everywhere: finite, but no trained network's; its products overflow to NaN logits.
        let (header, data) = try splitSafetensors(try shippedWeights)
        let huge = try corruptModel("1e30", weights: try joinSafetensors(header, Array(repeating: Self.f32Bytes(1e30), count: data.count / 4).flatMap { $0 }))
        try assertRefused(["transcribe", "--model", huge, Self.good], status: 2,
                          naming: [huge + "/model.safetensors", "holds 1e+30 at element 0", "within ±1e+10"])

        // Voices: NaN in the vocoder or in the acoustic model.
        let out = tmp.appendingPathComponent("out.wav").path
        for (file, tensor) in [("vocoder.safetensors", "head.bias"), ("acoustic.safetensors", "dec_out.weight")] {
            let voice = try tinyVoiceCopy("nan-\(file)")
            let url = URL(fileURLWithPath: voice).appendingPathComponent(file)
            let (h, d) = try splitSafetensors([UInt8](try Data(contentsOf: url)))
            var bytes = d
            let o = (h[tensor] as! [String: Any])["data_offsets"] as! [Int]
            bytes.replaceSubrange(o[0]..<(o[0] + 4), with: Self.f32Bytes(.nan))
            try Data(try joinSafetensors(h, bytes)).write(to: url)
            let r = try assertRefused(["synthesize", "--voice", voice, "-o", out, "Hello there."], status: 1,
                                      naming: [voice + "/" + file, "tensor '\(tensor)' holds nan at element 0"])
            XCTAssertEqual(r.err.components(separatedBy: voice + "/" + file).count, 2, "the path once: \(r.err)")
        }
    }

    // MARK: - 15. Loader messages

    /// ARPA errors name the LM file; a directory where a config, weights, decoding or LM file should be
    /// says "is a directory" (not "NSCocoaErrorDomain error 256"); an empty file name says so; a voice of
    /// sample rate 0 blames the voice's config, not the output file.
    func testLoaderMessagesNameTheFileAndTheReason() throws {
        let bad = try write("bad.arpa", Array("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t<s>\nxx\n\\end\\\n".utf8))
        try assertRefused(["transcribe", "--model", Self.model, "--lm", bad, Self.good], status: 2,
                          naming: ["language model '\(bad)'", "ARPA line 6", "found 1: 'xx'"])
        try assertRefused(["transcribe", "--model", Self.model, "--lm", tmp.path, Self.good], status: 2,
                          naming: ["language model '\(tmp.path)': is a directory"])
        try assertRefused(["transcribe", "--model", Self.model, "--lm", "", Self.good], status: 2,
                          naming: ["language model '': empty file name"])

        for file in ["config.json", "model.safetensors", "decoding.json"] {
            let model = try tinyModelCopy("dir-\(file)") { dir in
                let url = dir.appendingPathComponent(file)
                try? FileManager.default.removeItem(at: url)
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            }
            let r = try assertRefused(["transcribe", "--model", model, Self.good], status: 2,
                                      naming: ["'\(model)/\(file)'", "is a directory"])
            XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
        }

        let out = tmp.appendingPathComponent("rate0.wav").path
        let rate0 = try tinyVoiceCopy("rate0") { self.editSection(&$0, "audio", "sample_rate", 0) }
        let r = try assertRefused(["synthesize", "--voice", rate0, "-o", out, "Hello."], status: 1,
                                  naming: [rate0 + "/config.json", "audio.sample_rate must be at least 8000, got 0"])
        XCTAssertFalse(r.err.contains(out), "the output file is not to blame: \(r.err)")
        for file in ["config.json", "vocoder.safetensors"] {
            let voice = try tinyVoiceCopy("voice-dir-\(file)")
            let url = URL(fileURLWithPath: voice).appendingPathComponent(file)
            try FileManager.default.removeItem(at: url)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            let r = try assertRefused(["synthesize", "--voice", voice, "-o", out, "Hello."], status: 1,
                                      naming: ["\(voice)/\(file): is a directory"])
            XCTAssertEqual(r.err.components(separatedBy: voice + "/" + file).count, 2, "the path once: \(r.err)")
        }
    }
}
