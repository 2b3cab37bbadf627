import Foundation
@testable import SSMSynthesis
import SSMTensor
import SSMTestSupport
import XCTest

/// Reliability classes 2, 3 and 15 for voices: every number of a voice's `config.json` has a range
/// (checked when the voice loads, naming the file and field, before any allocation), weights must be
/// finite, and a model whose outputs overflow still gives bounded durations and finite samples.
final class VoiceLimitsTests: XCTestCase {
    func config(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tts_tiny/config.json")))) as! [String: Any]
        edit(&c)
        return try JSONSerialization.data(withJSONObject: c)
    }

    func set(_ section: String, _ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
        { c in var s = c[section] as! [String: Any]; s[key] = value; c[section] = s }
    }

    func testVoiceConfigNumbersHaveRanges() throws {
        let cases: [((inout [String: Any]) -> Void, String)] = [
            (set("audio", "sample_rate", 0), "audio.sample_rate must be at least 8000, got 0"),
            (set("audio", "sample_rate", 1e12), "audio.sample_rate must be at most 768000, got 1000000000000"),
            // (a negative rate once trapped building the f_min range from it, found by fuzz-config)
            (set("audio", "sample_rate", -16000), "audio.sample_rate must be at least 8000, got -16000"),
            (set("audio", "hop", 0), "audio.hop must be at least 1, got 0"),
            (set("acoustic", "dec_mixer", "hybrid"), "acoustic.dec_mixer 'hybrid' is not supported for voices"),
            (set("audio", "n_fft", 1e9), "audio.n_fft must be at most 65536, got 1000000000"),
            (set("audio", "mel_floor", 0), "audio.mel_floor must be at least 1e-20, got 0"),
            (set("acoustic", "enc_layers", 1e12), "acoustic.enc_layers must be at most 256, got 1000000000000"),
            (set("acoustic", "dur_layers", 1e12), "acoustic.dur_layers must be at most 256, got 1000000000000"),
            (set("acoustic", "dec_layers", 1e12), "acoustic.dec_layers must be at most 256, got 1000000000000"),
            (set("acoustic", "d_model", 1e9), "acoustic.d_model must be at most 16384, got 1000000000"),
            (set("vocoder", "layers", 1e12), "vocoder.layers must be at most 256, got 1000000000000"),
            (set("vocoder", "max_log_magnitude", 1e9), "vocoder.max_log_magnitude must be at most 20, got 1e+09"),
        ]
        for (edit, message) in cases {
            XCTAssertThrowsError(try TTSConfig.parse(try config(edit), path: "v/config.json"), message) { e in
                XCTAssertEqual("\(e)", "v/config.json: invalid voice config: \(message)")
            }
        }
        XCTAssertNoThrow(try TTSConfig.parse(try config { _ in }))
    }

    /// exp of an overflowing log duration is +inf: it used to trap converting to Int.
    func testDurationsAreBounded() {
        XCTAssertEqual(AcousticModel.frames(logDuration: log(11), lengthScale: 1), 10)
        XCTAssertEqual(AcousticModel.frames(logDuration: 1e30, lengthScale: 1), AcousticModel.maxPhonemeFrames)
        XCTAssertEqual(AcousticModel.frames(logDuration: .infinity, lengthScale: 2), AcousticModel.maxPhonemeFrames)
        XCTAssertEqual(AcousticModel.frames(logDuration: .nan, lengthScale: 1), 0)
        XCTAssertEqual(AcousticModel.frames(logDuration: -5, lengthScale: 1), 0)
    }

    /// A NaN in the vocoder used to give seconds of constant −1 (exit status 0): refused at load, naming
    /// the file (once) and the tensor.
    func testNonFiniteVoiceWeightsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("voice-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: Fixtures.path("tts_tiny"), toPath: dir.path)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vocoder.safetensors").path
        var t = try SafeTensors.read(path: path)
        t["head.bias"]!.values[4] = .nan
        try SafeTensors.serialize(t).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Synthesizer(directory: dir.path)) { e in
            XCTAssertEqual("\(e)", "\(path): tensor 'head.bias' holds nan at element 4 (weights must be finite and within ±1e+10)")
        }
    }
}
