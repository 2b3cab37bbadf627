import Foundation
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// Reliability classes 2, 3 and 15 at the model loader: config sizes have maxima (checked before any
/// allocation, naming the file and field), weights must be finite and within ±`SafeTensors.maxMagnitude`
/// (naming the tensor), and an unusable path says why.
final class ConfigAndWeightLimitsTests: XCTestCase {
    func configJSON(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var c = try Fixtures.json("encoder_mamba_tiny")
        edit(&c)
        return try JSONSerialization.data(withJSONObject: c)
    }

    func testConfigSizesHaveMaxima() throws {
        let cases: [((inout [String: Any]) -> Void, String)] = [
            ({ $0["n_layers"] = 1e12 }, "n_layers must be at most 256, got 1000000000000"),
            ({ $0["d_model"] = 1_000_000_000 }, "d_model must be at most 16384, got 1000000000"),
            ({ $0["d_model"] = 0 }, "d_model must be at least 1, got 0"),
            ({ $0["ffn_mult"] = 1e6 }, "ffn_mult must be at most 16, got 1000000"),
            ({ $0["n_mels"] = 128 }, "n_mels must be 80 for features logmel-v1, got 128"),
            ({ $0["subsample_kernel"] = 1e9 }, "subsample_kernel must be at most 1024, got 1000000000"),
            ({ $0["subsample_strides"] = [3, 1000] }, "subsample_strides must be two integers between 1 and 16, got [3, 1000]"),
            ({ $0["mamba"] = ["d_state": 1e9, "d_conv": 4, "expand": 2] }, "mamba.d_state must be at most 4096, got 1000000000"),
            ({ $0["mamba"] = ["d_state": 16, "d_conv": 4, "expand": 1e6] }, "mamba.expand must be at most 16, got 1000000"),
            ({ $0["mixer"] = "hybrid" }, "mixer is hybrid but the 'mamba' or 'hybrid' section is missing"),
            ({ $0["mixer"] = "hybrid"; $0["hybrid"] = ["attn_every": 0] }, "hybrid.attn_every must be at least 1, got 0"),
            ({ $0["mixer"] = "hybrid"; $0["hybrid"] = ["n_heads": 0] }, "hybrid.n_heads must be at least 1, got 0"),
            ({ $0["mixer"] = "hybrid"; $0["hybrid"] = ["window": 1e9] }, "hybrid.window must be at most 4096, got 1000000000"),
            ({ $0["mixer"] = "hybrid"; $0["hybrid"] = ["n_heads": 3] }, "hybrid.n_heads (3) must divide d_model (16)"),
            ({ $0["online_cmn"] = ["prior_frames": 200, "window_frames": 0] }, "online_cmn.window_frames must be at least 1, got 0"),
            ({ $0["online_cmn"] = ["prior_frames": -1, "window_frames": 600] }, "online_cmn.prior_frames must be at least 0, got -1"),
            ({ $0["online_cmn"] = ["prior_frames": 0, "window_frames": 1e9] }, "online_cmn.window_frames must be at most 1000000, got 1000000000"),
        ]
        for (edit, message) in cases {
            XCTAssertThrowsError(try EncoderConfig.parse(try configJSON(edit), path: "m/config.json")) { e in
                XCTAssertEqual("\(e)", "invalid model config 'm/config.json': \(message)")
            }
        }
        XCTAssertNoThrow(try EncoderConfig.parse(try configJSON { _ in }))
        XCTAssertEqual(try EncoderConfig.parse(try configJSON { $0["mixer"] = "hybrid"; $0["hybrid"] = [String: Any]() }).hybrid,
                       HybridConfig(attnEvery: 3, heads: 4, window: 64), "absent fields take the defaults")
        XCTAssertEqual(try EncoderConfig.parse(try configJSON { $0["online_cmn"] = ["prior_frames": 200, "window_frames": 600] }).onlineCMN,
                       OnlineCMNConfig(priorFrames: 200, windowFrames: 600))
        XCTAssertNil(try EncoderConfig.parse(try configJSON { _ in }).onlineCMN)
    }

    func tensors(_ value: Float, at index: Int = 3) -> Data {
        var w = [Float](repeating: 0.5, count: 8)
        w[index] = value
        return try! SafeTensors.serialize(["a": NamedTensor(shape: [2], values: [1, 2]), "w": NamedTensor(shape: [2, 4], values: w)])
    }

    /// One NaN, an infinity, or a magnitude no training gives: refused when the file is read, naming the tensor.
    func testWeightsMustBeFiniteAndBounded() throws {
        for (v, shown) in [(Float.nan, "nan"), (.infinity, "inf"), (-.infinity, "-inf"), (1e30, "1e+30"), (-2e10, "-2e+10")] {
            XCTAssertThrowsError(try SafeTensors.parse(tensors(v), path: "m/model.safetensors")) { e in
                XCTAssertEqual("\(e)", "tensor 'w' holds \(shown) at element 3 (weights must be finite and within ±1e+10)")
            }
        }
        XCTAssertEqual(try SafeTensors.parse(tensors(1e10))["w"]?.values[3], 1e10)
        // F16 infinity (0x7C00) converts to an infinite Float: refused too.
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: [0x00, 0x3C, 0x00, 0x7C])
        XCTAssertThrowsError(try SafeTensors.parse(d)) { e in XCTAssertTrue("\(e)".contains("tensor 'h' holds inf at element 1"), "\(e)") }
    }

    /// A feature standard deviation of 0 divides by zero on every frame.
    func testFeatureStdMustBePositive() throws {
        let c = try EncoderConfig.parse(try configJSON { _ in })
        var t = RandomWeights.encoderTensors(c, seed: 3)
        t["feature_norm.std"]!.values[7] = 0
        XCTAssertThrowsError(try Encoder(config: c, weights: WeightStore(tensors: t))) { e in
            XCTAssertEqual("\(e)", "tensor 'feature_norm.std' holds 0 at element 7 (must be positive)")
        }
    }

    func testUnusablePathsSayWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("config.json"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("model.safetensors"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try EncoderConfig.load(path: dir.path + "/config.json")) { e in
            XCTAssertEqual("\(e)", "cannot read model file '\(dir.path)/config.json': is a directory")
        }
        XCTAssertThrowsError(try SafeTensors.read(path: dir.path + "/model.safetensors")) { e in
            XCTAssertEqual("\(e)", "cannot read weights '\(dir.path)/model.safetensors': is a directory")
        }
        XCTAssertThrowsError(try EncoderConfig.load(path: "")) { e in
            XCTAssertEqual("\(e)", "cannot read model file '': empty file name")
        }
        XCTAssertThrowsError(try SafeTensors.read(path: dir.path + "/missing")) { e in
            XCTAssertEqual("\(e)", "cannot read weights '\(dir.path)/missing': no such file")
        }
    }

    func testRangeMessages() {
        XCTAssertNil(RangeCheck.problem("x", 5, 1...10))
        XCTAssertEqual(RangeCheck.problem("x", 11, 1...10), "x must be at most 10, got 11")
        XCTAssertEqual(RangeCheck.problem("y", Float(-0.5), 0...10), "y must be at least 0, got -0.5")
        XCTAssertEqual(RangeCheck.problem("y", Double.nan, 0...Double.infinity), "y must be a number >= 0 (or inf), got nan")
        XCTAssertNil(RangeCheck.problem("y", Double.infinity, 0...Double.infinity))
        XCTAssertEqual(RangeCheck.text(Float(0.5)...2), "0.5 … 2")
    }
}
