import Foundation
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// Every shipped model (Resources/models/<name>) reproduces the logits PyTorch computed for it on real
/// speech (Tests/Fixtures/model_<name>.safetensors, written by Training/export_model.py).
final class ShippedModelTests: XCTestCase {
    func testShippedModelsMatchPyTorchOnRealSpeech() throws {
        let fixtures = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.path)
            .filter { $0.hasPrefix("model_") && $0.hasSuffix(".safetensors") }.sorted()
        let models = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/models")
        try XCTSkipIf(fixtures.isEmpty, "no shipped model yet")
        for file in fixtures {
            let name = String(file.dropFirst("model_".count).dropLast(".safetensors".count))
            let t = try Fixtures.tensors(String(file.dropLast(".safetensors".count)))
            let enc = try Encoder(directory: models.appendingPathComponent(name).path)
            let feats = Fixtures.matrix(t["features"]!), expected = Fixtures.matrix(t["logits"]!)
            let got = enc.forward(feats)
            let st = enc.makeState()
            var streamed = Matrix(rows: 0, cols: enc.vocabularySize)
            feats.data.withUnsafeBufferPointer { p in
                for r in 0..<feats.rows where enc.step(p.baseAddress! + r * feats.cols, state: st) {
                    streamed.append(rowsOf: Matrix(rows: 1, cols: enc.vocabularySize, data: st.logits.array))
                }
            }
            let d1 = got.maxAbsDifference(expected), d2 = streamed.maxAbsDifference(expected)
            print("model \(name): parallel \(d1), recurrent \(d2) max abs diff over \(expected.rows) frames")
            XCTAssertLessThanOrEqual(d1, 1e-3, name)
            XCTAssertLessThanOrEqual(d2, 1e-3, name)
        }
    }
}
