import Foundation
import SSMDecoding
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

/// Every shipped model (Resources/models/<name>) reproduces the logits PyTorch computed for it on real
/// speech (Tests/Fixtures/model_<name>.safetensors, written by Training/export_model.py).
final class ShippedModelTests: XCTestCase {
    /// Each shipped model with a golden fixture: its name, folder, and the fixture's features and logits.
    private func shippedModels() throws -> [(name: String, directory: String, features: Matrix, logits: Matrix)] {
        let fixtures = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.path)
            .filter { $0.hasPrefix("model_") && $0.hasSuffix(".safetensors") }.sorted()
        let models = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/models")
        try XCTSkipIf(fixtures.isEmpty, "no shipped model yet")
        return try fixtures.map { file in
            let name = String(file.dropFirst("model_".count).dropLast(".safetensors".count))
            let t = try Fixtures.tensors(String(file.dropLast(".safetensors".count)))
            return (name, models.appendingPathComponent(name).path, Fixtures.matrix(t["features"]!), Fixtures.matrix(t["logits"]!))
        }
    }

    func testShippedModelsMatchPyTorchOnRealSpeech() throws {
        for (name, dir, feats, expected) in try shippedModels() {
            let enc = try Encoder(directory: dir)
            let got = enc.forward(feats)
            let streamed = enc.steppedLogits(feats)
            let d1 = got.maxAbsDifference(expected), d2 = streamed.maxAbsDifference(expected)
            print("model \(name): parallel \(d1), recurrent \(d2) max abs diff over \(expected.rows) frames")
            XCTAssertLessThanOrEqual(d1, 1e-3, name)
            XCTAssertLessThanOrEqual(d2, 1e-3, name)
        }
    }

    /// With int8 weights (`MatrixPrecision.int8`) the shipped models stay close to PyTorch's float32
    /// logits on the same real utterance: the frame-wise best token agrees almost everywhere and the
    /// log-probabilities move little. (The word error rates with and without int8 are in the README.)
    func testShippedModelsAtInt8StayCloseToPyTorch() throws {
        for (name, dir, feats, expected) in try shippedModels() {
            let enc = try Encoder(directory: dir, precision: .int8)
            XCTAssertEqual(enc.precision, .int8)
            let streamed = enc.steppedLogits(feats)
            XCTAssertEqual(streamed.rows, expected.rows)
            let v = enc.vocabularySize
            var agree = 0, maxLogProbDiff: Float = 0, meanLogProbDiff: Double = 0
            for r in 0..<expected.rows {
                let a = Array(streamed.data[(r * v)..<((r + 1) * v)]), b = Array(expected.data[(r * v)..<((r + 1) * v)])
                if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { agree += 1 }
                let la = logSoftmax(a), lb = logSoftmax(b)
                let best = b.indices.max(by: { b[$0] < b[$1] })!
                let d = abs(la[best] - lb[best])
                maxLogProbDiff = max(maxLogProbDiff, d)
                meanLogProbDiff += Double(d)
            }
            meanLogProbDiff /= Double(expected.rows)
            let agreement = Double(agree) / Double(expected.rows)
            print("model \(name) int8: best token agrees on \(agree)/\(expected.rows) frames; "
                  + "log-prob of PyTorch's best token: mean diff \(meanLogProbDiff), max \(maxLogProbDiff)")
            XCTAssertGreaterThanOrEqual(agreement, 0.97, name)
            XCTAssertLessThanOrEqual(meanLogProbDiff, 0.02, name)
        }
    }

    /// Each shipped model's decoding.json (if any) is valid and its LM is the shipped ARPA file, which
    /// loads and knows everyday words.
    func testShippedDecodingSettingsLoadTheShippedLM() throws {
        let root = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
        let models = root.appendingPathComponent("Resources/models")
        let names = try FileManager.default.contentsOfDirectory(atPath: models.path)
            .filter { FileManager.default.fileExists(atPath: models.appendingPathComponent($0).appendingPathComponent("decoding.json").path) }
        try XCTSkipIf(names.isEmpty, "no model ships decoding settings")
        var loaded: [String: NGramLM] = [:]
        for name in names.sorted() {
            let dir = models.appendingPathComponent(name).path
            let s = try DecoderSettings.load(modelDirectory: dir)
            XCTAssertNotNil(s.beam, name); XCTAssertNotNil(s.lmWeight, name); XCTAssertNotNil(s.wordBonus, name)
            let path = try XCTUnwrap(s.lmPath(modelDirectory: dir), name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(name): \(path)")
            let lm = try loaded[path] ?? NGramLM(contentsOf: path)
            loaded[path] = lm
            for w in ["the", "and", "house", "water", "time", "seven"] {
                XCTAssertNotNil(lm.wordId(w), "\(name)'s LM lacks \"\(w)\"")
            }
        }
    }

    private func logSoftmax(_ x: [Float]) -> [Float] {
        let m = x.max()!
        let lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
        return x.map { $0 - lse }
    }
}
