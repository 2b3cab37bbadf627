import Foundation
import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// The vectorised element-wise functions (`VectorMath`, `Sources/CSupport/ssm_vmath.c`) against
/// float64 definitions, over the ranges the models produce and beyond, plus their tails (lengths that
/// are not multiples of 8), NaN propagation, and the selective-scan kernel against its portable loop.
final class VectorMathTests: XCTestCase {
    /// Inputs: a dense sweep of [-lo, hi] plus random values, with a length that leaves a tail of 5.
    private func inputs(_ lo: Float, _ hi: Float, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        let sweep = (0..<4000).map { lo + (hi - lo) * Float($0) / 3999 }
        return sweep + rng.uniforms(1000, lo, hi) + [0, -0.0, 1e-8, -1e-8, 1e-30]
    }

    private func check(_ name: String, _ f: (UnsafeMutablePointer<Float>, Int) -> Void, _ reference: (Double) -> Double,
                       _ x: [Float], absolute: Double, relative: Double, file: StaticString = #filePath, line: UInt = #line) {
        var y = x
        y.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
        var worst = 0.0, at: Float = 0
        for (xi, yi) in zip(x, y) {
            let r = reference(Double(xi))
            let err = abs(Double(yi) - r)
            let allowed = absolute + relative * abs(r)
            if err / allowed > worst { worst = err / allowed; at = xi }
        }
        XCTAssertLessThanOrEqual(worst, 1, "\(name): worst error \(worst)× the allowance at x = \(at)", file: file, line: line)
    }

    func testFunctionsMatchFloat64Definitions() {
        // relative 4e-7 ≈ 3–4 float32 ulps
        check("exp", { VectorMath.exp($0, count: $1) }, { Foundation.exp($0) }, inputs(-87, 88, seed: 1),
              absolute: 1e-37, relative: 4e-7)
        check("sigmoid", { VectorMath.sigmoid($0, count: $1) }, { 1 / (1 + Foundation.exp(-$0)) }, inputs(-30, 30, seed: 2),
              absolute: 1e-12, relative: 5e-7)
        check("silu", { VectorMath.silu($0, count: $1) }, { $0 / (1 + Foundation.exp(-$0)) }, inputs(-30, 30, seed: 3),
              absolute: 1e-12, relative: 5e-7)
        check("softplus", { VectorMath.softplus($0, count: $1) }, { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) },
              inputs(-40, 40, seed: 4), absolute: 1e-20, relative: 5e-7)
        // erf by Abramowitz & Stegun 7.1.26: |erf error| ≤ 1.5e-7, so |GELU error| ≤ 0.75e-7·|x| (+ rounding)
        check("gelu", { VectorMath.gelu($0, count: $1) }, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) },
              inputs(-12, 12, seed: 5), absolute: 1e-6, relative: 3e-7)
    }

    func testAVX2AndPortableAgreeAndNaNPropagates() {
        let x = inputs(-10, 10, seed: 6)
        let pairs: [(String, (UnsafeMutablePointer<Float>, Int) -> Void, (UnsafeMutablePointer<Float>, Int) -> Void)] = [
            ("exp", { VectorMath.exp($0, count: $1) }, { VectorMath.Portable.exp($0, count: $1) }),
            ("gelu", { VectorMath.gelu($0, count: $1) }, { VectorMath.Portable.gelu($0, count: $1) }),
            ("silu", { VectorMath.silu($0, count: $1) }, { VectorMath.Portable.silu($0, count: $1) }),
            ("sigmoid", { VectorMath.sigmoid($0, count: $1) }, { VectorMath.Portable.sigmoid($0, count: $1) }),
            ("softplus", { VectorMath.softplus($0, count: $1) }, { VectorMath.Portable.softplus($0, count: $1) }),
        ]
        for (name, fast, portable) in pairs {
            var a = x, b = x
            a.withUnsafeMutableBufferPointer { fast($0.baseAddress!, $0.count) }
            b.withUnsafeMutableBufferPointer { portable($0.baseAddress!, $0.count) }
            for i in x.indices {
                XCTAssertEqual(a[i], b[i], accuracy: 1e-6 * max(1, abs(b[i])), "\(name)(\(x[i]))")
            }
            // NaN in, NaN out, at every position of an 8-wide register and in the tail
            for n in [8, 13] {
                for pos in 0..<n {
                    var v = [Float](repeating: 0.5, count: n)
                    v[pos] = .nan
                    v.withUnsafeMutableBufferPointer { fast($0.baseAddress!, $0.count) }
                    XCTAssertTrue(v[pos].isNaN, "\(name): NaN at \(pos) of \(n) became \(v[pos])")
                    XCTAssertFalse(v[(pos + 1) % n].isNaN, "\(name): NaN leaked to a neighbour")
                }
            }
        }
    }

    func testSelectiveScanKernelMatchesPortableLoopForEveryStateSize() {
        var rng = SeededRandom(seed: 7)
        for (e, n) in [(5, 8), (7, 16), (3, 13), (4, 1), (6, 4)] {
            let a = (0..<(e * n)).map { _ in -Float.random(in: 0.1..<8, using: &rng) }
            let dt = rng.uniforms(e, 0.001, 0.5), d = rng.normals(e), gate = rng.normals(e)
            let b = rng.normals(n), c = rng.normals(n)
            var h1 = rng.normals(e * n), h2 = h1
            var y1 = [Float](repeating: 0, count: e), y2 = y1
            for _ in 0..<20 { // 20 steps, feeding the state forward
                let x = rng.normals(e)
                VectorMath.selectiveScanStep(h: &h1, a: a, dt: dt, x: x, b: b, c: c, d: d, gate: gate, y: &y1, channels: e, states: n)
                VectorMath.Portable.selectiveScanStep(h: &h2, a: a, dt: dt, x: x, b: b, c: c, d: d, gate: gate, y: &y2,
                                                      channels: e, states: n)
                for i in 0..<e { XCTAssertEqual(y1[i], y2[i], accuracy: 1e-5 * max(1, abs(y2[i])), "E \(e) N \(n)") }
            }
            for i in 0..<(e * n) { XCTAssertEqual(h1[i], h2[i], accuracy: 1e-5 * max(1, abs(h2[i])), "E \(e) N \(n)") }
        }
    }
}
