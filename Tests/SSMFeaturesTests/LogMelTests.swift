import Foundation
import SSMFeatures
import SSMTensor
import SSMTestSupport
import XCTest

final class LogMelTests: XCTestCase {
    private func noiseAndTones(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { i in
            let t = Float(i) / 16_000
            return 0.3 * sinf(2 * .pi * 220 * t) + 0.1 * sinf(2 * .pi * 3_100 * t) + 0.02 * rng.normal()
        }
    }

    func testFrameCountRule() {
        let c = FeatureConfig.logmelV1
        XCTAssertEqual(c.frameCount(samples: 0), 0)
        XCTAssertEqual(c.frameCount(samples: 399), 0)
        XCTAssertEqual(c.frameCount(samples: 400), 1)
        XCTAssertEqual(c.frameCount(samples: 559), 1)
        XCTAssertEqual(c.frameCount(samples: 560), 2)
        XCTAssertEqual(LogMelExtractor.compute(noiseAndTones(16_000, seed: 1)).rows, 98)
    }

    /// Feeding audio in chunks of any size gives exactly the frames of the whole-signal computation.
    func testChunkingInvariance() {
        let audio = noiseAndTones(16_000 + 123, seed: 2)
        let whole = LogMelExtractor.compute(audio)
        for chunk in [1, 7, 160, 399, 401, 4096] {
            let ex = LogMelExtractor()
            var got = Matrix(rows: 0, cols: 80)
            var i = 0
            while i < audio.count {
                let j = min(audio.count, i + chunk)
                got.append(rowsOf: ex.accept(Array(audio[i..<j])))
                i = j
            }
            XCTAssertEqual(got, whole, "chunk size \(chunk) must give bit-identical frames")
        }
        // Random chunk sizes.
        var rng = SeededRandom(seed: 9)
        let ex = LogMelExtractor()
        var got = Matrix(rows: 0, cols: 80)
        var i = 0
        while i < audio.count {
            let j = min(audio.count, i + Int(rng.next() % 900) + 1)
            got.append(rowsOf: ex.accept(Array(audio[i..<j])))
            i = j
        }
        XCTAssertEqual(got, whole)
    }

    /// A 1 kHz sine peaks in the mel filter whose centre is closest to 1 kHz.
    func testSinePeaksInTheRightMelBin() {
        let audio = (0..<16_000).map { 0.5 * sinf(2 * .pi * 1_000 * Float($0) / 16_000) }
        let feats = LogMelExtractor.compute(audio)
        let cfg = FeatureConfig.logmelV1
        let mMax = MelFilterbank.hzToMel(cfg.fMax)
        let centres = (1...cfg.melBins).map { MelFilterbank.melToHz(mMax * Double($0) / Double(cfg.melBins + 1)) }
        let expected = centres.enumerated().min { abs($0.element - 1_000) < abs($1.element - 1_000) }!.offset
        let row = feats.row(feats.rows / 2)
        let peak = row.enumerated().max { $0.element < $1.element }!.offset
        XCTAssertEqual(peak, expected, "1 kHz peaks in mel bin \(peak), expected \(expected) (centre \(centres[expected]) Hz)")
        // The energy is concentrated: far bins are much lower.
        XCTAssertGreaterThan(row[peak] - row[5], 10)
        XCTAssertGreaterThan(row[peak] - row[75], 10)
    }

    /// Parity with the PyTorch reference (`Training/ssmspeech_ref/features.py`) on real speech.
    func testMatchesPyTorchReferenceOnRealSpeech() throws {
        let t = try Fixtures.tensors("features_real")
        let audio = try XCTUnwrap(t["audio"]).values
        let expected = Fixtures.matrix(try XCTUnwrap(t["features"]))
        let ex = LogMelExtractor()
        let fb = try XCTUnwrap(t["mel_fbank"])
        XCTAssertLessThanOrEqual(maxAbsDifference(ex.filterbank.weights, fb.values), 1e-6, "mel filterbank")
        XCTAssertLessThanOrEqual(maxAbsDifference(ex.window, try XCTUnwrap(t["window"]).values), 1e-6, "window")
        let got = ex.accept(audio)
        XCTAssertEqual(got.rows, expected.rows)
        let diff = got.maxAbsDifference(expected)
        print("log-mel vs PyTorch on real speech (\(got.rows) frames): max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4)
    }
}
