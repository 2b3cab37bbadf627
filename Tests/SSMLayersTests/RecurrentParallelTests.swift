import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// Recurrent mode (one frame at a time) must equal parallel mode (whole sequence), and chunked
/// parallel runs that hand the state over must equal the whole run.
final class RecurrentParallelTests: XCTestCase {
    private func chunks(_ total: Int, sizes: [Int]) -> [Range<Int>] {
        var out: [Range<Int>] = [], start = 0, i = 0
        while start < total {
            let n = min(sizes[i % sizes.count], total - start)
            out.append(start..<(start + n)); start += n; i += 1
        }
        return out
    }

    /// The S4D and Mamba layers through the checks every mixer passes (MixerModeChecks.swift): step ==
    /// parallel over 2 048 frames, chunked forward with state hand-over == whole, memory, reset, stepBatch.
    func testS4DStepMatchesFFTConvolutionOver2000Frames() throws {
        var rng = SeededRandom(seed: 1)
        let h = 16, n = 32
        let layer = try S4D(WeightStore(tensors: RandomWeights.s4d(h: h, n: n, rng: &rng)).scoped(""), dModel: h, config: .init(dState: n))
        checkModes("S4D", layer, width: h, frames: 2048, pieces: [1, 7, 160, 333, 64],
                   stateOf: { [$0.re.array, $0.im.array] }, rng: &rng)
    }

    func testMambaStepMatchesParallelOver2000Frames() throws {
        var rng = SeededRandom(seed: 2)
        let d = 32
        let cfg = Mamba.Config(dState: 16, dConv: 4, expand: 2, dtRank: 2)
        let layer = try Mamba(WeightStore(tensors: RandomWeights.mamba(d: d, n: 16, conv: 4, expand: 2, dtRank: 2, rng: &rng)).scoped(""),
                              dModel: d, config: cfg)
        checkModes("Mamba", layer, width: d, frames: 2048, pieces: [1, 3, 7, 160, 500],
                   stateOf: { [$0.ssm.array, $0.conv.array] }, rng: &rng)
    }

    func testStateResetRestartsTheSequence() throws {
        var rng = SeededRandom(seed: 3)
        let d = 8
        let layer = try Mamba(WeightStore(tensors: RandomWeights.mamba(d: d, n: 4, conv: 4, expand: 2, dtRank: 1, rng: &rng)).scoped(""),
                              dModel: d, config: .init(dState: 4, dConv: 4, expand: 2, dtRank: 1))
        let x = rng.matrix(20, d)
        let st = layer.makeState()
        let first = stepAll(layer, x, state: st)
        let continued = stepAll(layer, x, state: st)
        XCTAssertGreaterThan(first.maxAbsDifference(continued), 1e-3, "state must carry information across calls")
        st.reset()
        let again = stepAll(layer, x, state: st)
        XCTAssertEqual(first, again)
    }

    func testCausalConvStreamingMatchesWholeAndChunked() throws {
        var rng = SeededRandom(seed: 4)
        let cin = 6, cout = 5, k = 3
        for stride in [1, 2, 3] {
            let conv = CausalConv1d(inChannels: cin, outChannels: cout, kernelSize: k, stride: stride,
                                    weight: rng.normals(cout * cin * k), bias: rng.normals(cout))
            let x = rng.matrix(37, cin)
            let whole = conv.forward(x)
            XCTAssertEqual(whole.rows, (37 + stride - 1) / stride)
            // Streaming
            let st = conv.makeState()
            var streamed = Matrix(rows: 0, cols: cout)
            var y = [Float](repeating: 0, count: cout)
            x.data.withUnsafeBufferPointer { xp in
                for t in 0..<x.rows {
                    if conv.step(xp.baseAddress! + t * cin, state: st, into: &y) {
                        streamed.append(rowsOf: Matrix(rows: 1, cols: cout, data: y))
                    }
                }
            }
            XCTAssertLessThanOrEqual(whole.maxAbsDifference(streamed), 1e-5)
            let cst = conv.makeState()
            var chunked = Matrix(rows: 0, cols: cout)
            for r in chunks(37, sizes: [1, 2, 5, 4]) { chunked.append(rowsOf: conv.forward(x.rows(r), state: cst)) }
            XCTAssertLessThanOrEqual(whole.maxAbsDifference(chunked), 1e-5, "stride \(stride)")
        }
    }

    func testCausalConvMatchesDirectDefinition() {
        // 1 input channel, 1 output, K = 3, stride 2: y[t] = w0·x[2t−2] + w1·x[2t−1] + w2·x[2t] + b
        let conv = CausalConv1d(inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2, weight: [1, 10, 100], bias: [0.5])
        let y = conv.forward(Matrix(rows: 5, cols: 1, data: [1, 2, 3, 4, 5]))
        let expected: [Float] = [100.5, 321.5, 543.5] // 100·1, 1 + 20 + 300, 3 + 40 + 500 (+ 0.5 each)
        XCTAssertEqual(y.data, expected)
    }
}
