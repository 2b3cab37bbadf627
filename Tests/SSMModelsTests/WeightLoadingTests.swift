import Foundation
import SSMLayers
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// Weights are checked by name, shape and dtype, and every failure names the tensor.
final class WeightLoadingTests: XCTestCase {
    let config = EncoderConfig(mixer: .mamba, dModel: 8, layers: 1, norm: .rmsnorm,
                               mamba: .init(dState: 4, dConv: 4, expand: 2, dtRank: 1), vocab: ["<blank>", "a"])

    /// A consistent weight set, passed through the serializer and parser once.
    private func tensors() throws -> [String: NamedTensor] {
        try SafeTensors.parse(try SafeTensors.serialize(Self.dictionary(config)))
    }

    static func dictionary(_ c: EncoderConfig) -> [String: NamedTensor] {
        var rng = SeededRandom(seed: 7)
        let d = c.dModel, f = c.nMels, k = c.subsampleKernel
        var t: [String: NamedTensor] = [
            "feature_norm.mean": NamedTensor(shape: [f], values: rng.normals(f)),
            "feature_norm.std": NamedTensor(shape: [f], values: rng.uniforms(f, 0.5, 2)),
            "subsample.conv1.weight": NamedTensor(shape: [d, f, k], values: rng.normals(d * f * k)),
            "subsample.conv1.bias": NamedTensor(shape: [d], values: rng.normals(d)),
            "subsample.conv2.weight": NamedTensor(shape: [d, d, k], values: rng.normals(d * d * k)),
            "subsample.conv2.bias": NamedTensor(shape: [d], values: rng.normals(d)),
        ]
        t.merge(RandomWeights.norm(prefix: "layers.0.norm", d: d, layerNorm: false, rng: &rng)) { $1 }
        t.merge(RandomWeights.mamba(prefix: "layers.0.mixer", d: d, n: 4, conv: 4, expand: 2, dtRank: 1, rng: &rng)) { $1 }
        t.merge(RandomWeights.norm(prefix: "norm_f", d: d, layerNorm: false, rng: &rng)) { $1 }
        t.merge(RandomWeights.linear(prefix: "ctc_head", out: 2, in: d, bias: true, rng: &rng)) { $1 }
        return t
    }

    func testRoundTripLoads() throws {
        XCTAssertNoThrow(try Encoder(config: config, weights: WeightStore(tensors: try tensors())))
    }

    func testMissingTensorIsNamed() throws {
        var t = try tensors()
        t["layers.0.mixer.A_log"] = nil
        XCTAssertThrowsError(try Encoder(config: config, weights: WeightStore(tensors: t))) { e in
            XCTAssertEqual((e as? WeightError)?.description, "missing tensor 'layers.0.mixer.A_log'")
        }
    }

    func testWrongShapeIsNamed() throws {
        var t = try tensors()
        t["layers.0.mixer.x_proj.weight"] = NamedTensor(shape: [10, 16], values: [Float](repeating: 0, count: 160))
        XCTAssertThrowsError(try Encoder(config: config, weights: WeightStore(tensors: t))) { e in
            XCTAssertEqual((e as? WeightError)?.description,
                           "tensor 'layers.0.mixer.x_proj.weight' has shape [10, 16], expected [9, 16]")
        }
    }

    func testConfigContradictingWeightsFails() throws {
        var c = config
        c.dModel = 12
        XCTAssertThrowsError(try Encoder(config: c, weights: WeightStore(tensors: try tensors()))) { e in
            XCTAssertTrue("\(e)".contains("feature_norm") || "\(e)".contains("subsample.conv1.weight"), "\(e)")
        }
    }

    func testUnexpectedTensorIsReported() throws {
        var t = try tensors()
        t["layers.1.norm.weight"] = NamedTensor(shape: [8], values: [Float](repeating: 1, count: 8))
        XCTAssertThrowsError(try Encoder(config: config, weights: WeightStore(tensors: t))) { e in
            XCTAssertTrue("\(e)".contains("layers.1.norm.weight"), "\(e)")
        }
    }

    func testTruncatedAndMalformedFiles() throws {
        let good = try SafeTensors.serialize(try tensors())
        // Truncated data section.
        XCTAssertThrowsError(try SafeTensors.parse(good.prefix(good.count - 10))) { e in
            XCTAssertTrue("\(e)".contains("outside the file"), "\(e)")
        }
        // Shorter than the length prefix.
        XCTAssertThrowsError(try SafeTensors.parse(good.prefix(5))) { e in XCTAssertTrue("\(e)".contains("8-byte")) }
        // Header length beyond the file.
        var big = good
        big.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0])
        XCTAssertThrowsError(try SafeTensors.parse(big)) { e in XCTAssertTrue("\(e)".contains("exceeds file size"), "\(e)") }
        // Unsupported dtype names the tensor.
        let header = #"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: [UInt8](repeating: 0, count: 8))
        XCTAssertThrowsError(try SafeTensors.parse(d)) { e in
            XCTAssertEqual("\(e)", "tensor 'w' has unsupported dtype I64 (expected F32, F16, BF16 or F64)")
        }
    }

    func testHalfPrecisionIsConverted() throws {
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: [0x00, 0x3C, 0x00, 0xC0]) // F16 1.0, -2.0
        d.append(contentsOf: [0x40, 0x40])             // BF16 3.0
        let t = try SafeTensors.parse(d)
        XCTAssertEqual(t["h"]?.values, [1, -2])
        XCTAssertEqual(t["b"]?.values, [3])
    }
}
