import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// The int8 matrix-vector product (`QuantizedMatrix`, `Sources/CSupport/ssm_quantized.c`) against a
/// float64 product of the float weights: within the error that 8-bit weights and 16-bit activations
/// allow, identical between the AVX2 kernel and the portable loop, and used by `Linear` and
/// `CausalConv1d` when the weights are bound at `MatrixPrecision.int8`.
final class QuantizedMatrixTests: XCTestCase {
    /// Worst case of |W·x − Ŵ·x̂| for row r, with |Ŵ − W| ≤ s_r/2 per weight and |x̂ − x| ≤ xs/2 per
    /// input (xs ≤ max|x| / 32767): s_r/2·Σ|x| + xs/2·Σ|W_r| + cols·s_r·xs/4, plus float rounding.
    private func bound(_ q: QuantizedMatrix, row r: Int, w: [Float], x: [Float]) -> Double {
        let cols = q.cols
        let xs = Double(x.map { abs($0) }.max()!) / 32767
        let s = Double(q.scales[r])
        var sumAbsX = 0.0, sumAbsW = 0.0
        for c in 0..<cols { sumAbsX += Double(abs(x[c])); sumAbsW += Double(abs(w[r * cols + c])) }
        let quantisation = s / 2 * sumAbsX + xs / 2 * sumAbsW + Double(cols) * s * xs / 4
        return quantisation * 1.001 + 1e-6 * (sumAbsW * Double(x.map { abs($0) }.max()!)) + 1e-7
    }

    func testQuantisationRoundTripIsWithinHalfAStep() {
        var rng = SeededRandom(seed: 11)
        let rows = 13, cols = 70
        var w = rng.normals(rows * cols)
        for c in 0..<cols { w[5 * cols + c] = 0 } // an all-zero row
        let q = QuantizedMatrix(quantizing: w, rows: rows, cols: cols)
        let back = q.dequantized
        for r in 0..<rows {
            let m = (0..<cols).map { abs(w[r * cols + $0]) }.max()!
            XCTAssertEqual(q.scales[r], m / 127, accuracy: m * 1e-6)
            XCTAssertEqual(q.values[(r * cols)..<((r + 1) * cols)].map { abs(Int($0)) }.max()!, m > 0 ? 127 : 0)
            for c in 0..<cols {
                XCTAssertLessThanOrEqual(abs(back[r * cols + c] - w[r * cols + c]), q.scales[r] / 2 * 1.0001 + 1e-12)
            }
        }
    }

    func testGemvIsWithinTheQuantisationBoundAndKernelsAgree() {
        var rng = SeededRandom(seed: 12)
        // shapes with row tails (not a multiple of 4), column tails (not of 16) and several 512-column blocks
        for (rows, cols) in [(1, 1), (7, 3), (37, 531), (512, 256), (29, 16), (64, 1300)] {
            let w = rng.normals(rows * cols, scale: 0.1)
            var x = rng.normals(cols)
            x[cols / 2] = 4 // one large activation sets the int16 scale
            let q = QuantizedMatrix(quantizing: w, rows: rows, cols: cols)
            var fast = [Float](repeating: .nan, count: rows), portable = fast
            x.withUnsafeBufferPointer { xp in
                q.gemv(xp.baseAddress!, into: &fast)
                q.gemvPortable(xp.baseAddress!, into: &portable)
            }
            for r in 0..<rows {
                var exact = 0.0
                for c in 0..<cols { exact += Double(w[r * cols + c]) * Double(x[c]) }
                let err = abs(Double(fast[r]) - exact)
                XCTAssertLessThanOrEqual(err, bound(q, row: r, w: w, x: x), "\(rows)×\(cols) row \(r)")
                // same integer sums; only float rounding of the per-block scaling can differ
                XCTAssertEqual(fast[r], portable[r], accuracy: 1e-5 * max(1, abs(fast[r])), "\(rows)×\(cols) row \(r)")
            }
        }
    }

    func testGemvAccumulatesAndHandlesZeroAndNonFiniteInputs() {
        var rng = SeededRandom(seed: 13)
        let rows = 9, cols = 40
        let q = QuantizedMatrix(quantizing: rng.normals(rows * cols), rows: rows, cols: cols)
        let x = rng.normals(cols)
        var plain = [Float](repeating: 0, count: rows)
        var acc = [Float](repeating: 2.5, count: rows)
        x.withUnsafeBufferPointer { q.gemv($0.baseAddress!, into: &plain) }
        x.withUnsafeBufferPointer { q.gemv($0.baseAddress!, into: &acc, accumulate: true) }
        for r in 0..<rows { XCTAssertEqual(acc[r], plain[r] + 2.5, accuracy: 1e-5) }

        let zeros = [Float](repeating: 0, count: cols)
        var y = [Float](repeating: 7, count: rows)
        zeros.withUnsafeBufferPointer { q.gemv($0.baseAddress!, into: &y) }
        XCTAssertEqual(y, [Float](repeating: 0, count: rows))

        var bad = x
        bad[3] = .nan
        bad.withUnsafeBufferPointer { q.gemv($0.baseAddress!, into: &y) }
        XCTAssertTrue(y.allSatisfy { $0.isNaN }, "a NaN input must not turn into a finite output")
        bad[3] = .infinity
        bad.withUnsafeBufferPointer { q.gemvPortable($0.baseAddress!, into: &y) }
        XCTAssertTrue(y.allSatisfy { $0.isNaN })
    }

    func testLinearAndConvolutionUseTheInt8WeightsPerFrame() throws {
        var rng = SeededRandom(seed: 14)
        let inF = 48, outF = 20
        let w = rng.normals(outF * inF, scale: 0.2), b = rng.normals(outF)
        let f32 = Linear(inFeatures: inF, outFeatures: outF, weight: w, bias: b)
        let i8 = Linear(inFeatures: inF, outFeatures: outF, weight: w, bias: b, precision: .int8)
        XCTAssertNil(f32.quantized)
        XCTAssertNotNil(i8.quantized)
        let x = rng.normals(inF)
        var y32 = [Float](repeating: 0, count: outF), y8 = y32, yq = y32
        x.withUnsafeBufferPointer { xp in
            f32(xp.baseAddress!, into: &y32)
            i8(xp.baseAddress!, into: &y8)
            i8.quantized!.gemv(xp.baseAddress!, into: &yq)
        }
        for o in 0..<outF {
            XCTAssertEqual(y8[o], yq[o] + b[o], accuracy: 1e-5) // really the int8 path, plus the bias
            XCTAssertEqual(y8[o], y32[o], accuracy: 0.05)        // and close to float32
        }

        // A strided convolution stepped at int8 stays close to the float32 one.
        let cin = 6, cout = 10, k = 3
        let cw = rng.normals(cout * cin * k, scale: 0.3), cb = rng.normals(cout)
        let c32 = CausalConv1d(inChannels: cin, outChannels: cout, kernelSize: k, stride: 2, weight: cw, bias: cb)
        let c8 = CausalConv1d(inChannels: cin, outChannels: cout, kernelSize: k, stride: 2, weight: cw, bias: cb,
                              precision: .int8)
        let s32 = c32.makeState(), s8 = c8.makeState()
        var o32 = [Float](repeating: 0, count: cout), o8 = o32
        var emitted = 0
        for _ in 0..<9 {
            let frame = rng.normals(cin)
            let (e32, e8) = frame.withUnsafeBufferPointer { fp in
                (c32.step(fp.baseAddress!, state: s32, into: &o32), c8.step(fp.baseAddress!, state: s8, into: &o8))
            }
            XCTAssertEqual(e32, e8)
            if e32 {
                emitted += 1
                for o in 0..<cout { XCTAssertEqual(o8[o], o32[o], accuracy: 0.05) }
            }
        }
        XCTAssertEqual(emitted, 5)
    }
}
