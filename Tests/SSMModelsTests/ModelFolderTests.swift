import Foundation
import SSMLayers
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// Model folders and the file format of `config.json`: the Swift names are camelCase, the files keep
/// the recipe's snake_case keys.
final class ModelFolderTests: XCTestCase {
    func testModelFolderNamesItsFiles() throws {
        let f = ModelFolder(path: "/models/s4d-30ms")
        XCTAssertEqual(f.name, "s4d-30ms")
        XCTAssertEqual(f.configPath, "/models/s4d-30ms/config.json")
        XCTAssertEqual(f.weightsPath, "/models/s4d-30ms/model.safetensors")
        XCTAssertEqual(f.decodingPath, "/models/s4d-30ms/decoding.json")
        XCTAssertEqual(f.bundledLMPath, "/models/s4d-30ms/lm.arpa")
        XCTAssertFalse(f.isModelFolder)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelfolder-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = EncoderConfig(mixer: .s4d, dModel: 8, layers: 1, norm: .layernorm, s4d: .init(dState: 4),
                                   vocab: ["<blank>", "a"])
        let path = try RandomWeights.writeModelFolder(config, seed: 3, at: dir)
        let folder = ModelFolder(path: path)
        XCTAssertTrue(folder.isModelFolder)
        XCTAssertTrue(ModelFolder.isModelFolder(path))
        let a = try Encoder(folder: folder), b = try Encoder(directory: path)
        XCTAssertEqual(a.config, config)
        XCTAssertEqual(a.precision, .float32)
        XCTAssertEqual(try Encoder(folder: folder, precision: .int8).precision, .int8)
        let x = Matrix(rows: 12, cols: 80, data: (0..<(12 * 80)).map { sinf(Float($0)) })
        XCTAssertEqual(a.forward(x), b.forward(x))
    }

    /// The fixture configs exported by the PyTorch recipe decode, and encoding writes back the same keys.
    func testEncoderConfigKeepsTheFileKeys() throws {
        for name in ["encoder_s4d_tiny", "encoder_mamba_tiny", "encoder_mamba2_tiny", "encoder_s5_tiny", "encoder_hybrid_tiny",
                     "encoder_mamba_cmn_tiny"] {
            let data = try Data(contentsOf: Fixtures.directory.appendingPathComponent(name + ".json"))
            let config = try JSONDecoder().decode(EncoderConfig.self, from: data)
            let written = try JSONEncoder().encode(config)
            // "dt_rank": "auto" (or null) reads as nil, which is written by leaving the key out.
            let optional: Set<String> = config.mamba?.dtRank == nil ? ["mamba.dt_rank"] : []
            XCTAssertEqual(try jsonKeyPaths(written), try jsonKeyPaths(data).subtracting(optional), name)
            XCTAssertEqual(try JSONDecoder().decode(EncoderConfig.self, from: written), config, name)
        }
        let c = EncoderConfig(mixer: .mamba, dModel: 16, layers: 2, norm: .rmsnorm, ffnMult: 2, subsampleStrides: [3, 1],
                              mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 1), vocab: ["<blank>", "a"])
        XCTAssertEqual(try jsonKeyPaths(JSONEncoder().encode(c)), [
            "format", "mixer", "d_model", "n_layers", "norm", "ffn_mult", "n_mels", "subsample_kernel", "subsample_strides",
            "mamba", "mamba.d_state", "mamba.d_conv", "mamba.expand", "mamba.dt_rank", "vocab", "features"])
    }

    /// `dt_rank` may be a number, "auto" or absent (both nil: ceil(D/16)).
    func testMambaDtRankAuto() throws {
        func decode(_ s: String) throws -> Mamba.Config { try JSONDecoder().decode(Mamba.Config.self, from: Data(s.utf8)) }
        XCTAssertEqual(try decode(#"{"d_state": 8, "d_conv": 3, "expand": 1, "dt_rank": 5}"#),
                       Mamba.Config(dState: 8, dConv: 3, expand: 1, dtRank: 5))
        XCTAssertNil(try decode(#"{"dt_rank": "auto"}"#).dtRank)
        XCTAssertEqual(try decode("{}"), Mamba.Config())
        XCTAssertEqual(Mamba.Config().resolvedDtRank(dModel: 33), 3)
        XCTAssertThrowsError(try decode(#"{"dt_rank": "big"}"#))
    }
}
