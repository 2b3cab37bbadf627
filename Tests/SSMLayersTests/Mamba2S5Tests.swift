import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// Mamba-2 and S5: recurrent mode equals parallel mode over 2 000+ frames, chunked runs with state
/// hand-over equal the whole run, a batch of streams equals each stream stepped alone, and both layers
/// reproduce the PyTorch reference (`Training/export_fixtures.py`, sequential scans in float64) to 1e-4.
final class Mamba2S5Tests: XCTestCase {
    private func stepAll<M: SequenceMixer>(_ layer: M, _ x: Matrix, state: M.State) -> Matrix {
        var y = Matrix(rows: x.rows, cols: x.cols)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            for t in 0..<x.rows { layer.step(xp.baseAddress! + t * x.cols, state: state, into: yp.baseAddress! + t * x.cols) }
        }}
        return y
    }

    /// forward over pieces of `sizes` (cycled), handing the state over; returns the concatenated output.
    private func chunked<M: SequenceMixer>(_ layer: M, _ x: Matrix, sizes: [Int], state: M.State) -> Matrix {
        var out = Matrix(rows: 0, cols: x.cols), start = 0, i = 0
        while start < x.rows {
            let n = min(sizes[i % sizes.count], x.rows - start)
            out.append(rowsOf: layer.forward(x.rows(start..<(start + n)), state: state))
            start += n; i += 1
        }
        return out
    }

    /// Three streams stepped together (`stepBatch`) for `frames` frames equal each stream stepped alone.
    private func checkBatch<M: SequenceMixer>(_ layer: M, width d: Int, frames: Int, rng: inout SeededRandom) {
        let xs = (0..<3).map { _ in rng.matrix(frames, d) }
        let alone = xs.map { stepAll(layer, $0, state: layer.makeState()) }
        let states = (0..<3).map { _ in layer.makeState() }
        let scratch = layer.makeBatchScratch(maxBatch: 3)
        var worst: Float = 0
        var u = [Float](repeating: 0, count: 3 * d), out = u
        for t in 0..<frames {
            for b in 0..<3 { for j in 0..<d { u[b * d + j] = xs[b].data[t * d + j] } }
            layer.stepBatch(u, states: states, scratch: scratch, into: &out)
            for b in 0..<3 { worst = max(worst, maxAbsDifference(Array(out[(b * d)..<((b + 1) * d)]), alone[b].row(t))) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-5, "stepBatch vs step")
    }

    /// Over `frames` random frames: step == forward (≤ 1e-4), chunked forward with state hand-over ==
    /// whole forward and leaves the same state (`stateOf` lists its buffers), the state carries memory,
    /// reset restarts the stream, and stepBatch == step.
    private func checkModes<M: SequenceMixer>(_ name: String, _ layer: M, width d: Int, frames l: Int, pieces: [Int],
                                              stateOf: (M.State) -> [[Float]], rng: inout SeededRandom) {
        let x = rng.matrix(l, d)
        let parallel = layer.forward(x, state: nil)
        let st = layer.makeState()
        let recurrent = stepAll(layer, x, state: st)
        let diff = parallel.maxAbsDifference(recurrent)
        print("\(name) step vs parallel over \(l) frames: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4, name)
        XCTAssertGreaterThan(parallel.data.map(abs).max()!, 0.1, "\(name): output should not be trivially small")

        let cs = layer.makeState()
        XCTAssertLessThanOrEqual(parallel.maxAbsDifference(chunked(layer, x, sizes: pieces, state: cs)), 1e-4, name)
        for (a, b) in zip(stateOf(cs), stateOf(st)) { XCTAssertLessThanOrEqual(maxAbsDifference(a, b), 1e-4, name) }

        let again = stepAll(layer, x.rows(0..<20), state: st)
        XCTAssertGreaterThan(again.maxAbsDifference(recurrent.rows(0..<20)), 1e-3, "\(name): the state carries memory")
        st.reset()
        XCTAssertEqual(stepAll(layer, x.rows(0..<20), state: st), recurrent.rows(0..<20), name)
        checkBatch(layer, width: d, frames: 40, rng: &rng)
    }

    func testMamba2StepMatchesParallelChunkedAndBatched() throws {
        var rng = SeededRandom(seed: 21)
        let d = 32
        let ws = WeightStore(tensors: RandomWeights.mamba2(d: d, n: 16, conv: 4, expand: 2, headdim: 16, ngroups: 2, rng: &rng))
        let layer = try Mamba2(ws.scoped(""), dModel: d, config: .init(dState: 16, dConv: 4, expand: 2, headdim: 16, ngroups: 2))
        try ws.checkAllUsed()
        XCTAssertEqual(layer.nheads, 4)
        checkModes("Mamba2", layer, width: d, frames: 2048, pieces: [1, 3, 7, 160, 500],
                   stateOf: { [$0.ssm.array, $0.conv.array] }, rng: &rng)
    }

    func testS5StepMatchesParallelChunkedAndBatched() throws {
        var rng = SeededRandom(seed: 22)
        let h = 16, n = 32
        let ws = WeightStore(tensors: RandomWeights.s5(h: h, n: n, rng: &rng))
        let layer = try S5(ws.scoped(""), dModel: h, config: .init(dState: n))
        try ws.checkAllUsed()
        checkModes("S5", layer, width: h, frames: 2048, pieces: [1, 7, 160, 333, 64], stateOf: { [$0.x.array] }, rng: &rng)
    }

    func testMamba2RejectsHeadsThatDoNotDivide() {
        var rng = SeededRandom(seed: 23)
        let ws = WeightStore(tensors: RandomWeights.mamba2(d: 8, n: 4, conv: 4, expand: 2, headdim: 4, ngroups: 1, rng: &rng))
        XCTAssertThrowsError(try Mamba2(ws.scoped(""), dModel: 8, config: .init(dState: 4, headdim: 5)))
        XCTAssertThrowsError(try Mamba2(ws.scoped(""), dModel: 8, config: .init(dState: 4, headdim: 4, ngroups: 3)))
    }

    func testMamba2MatchesPyTorch() throws {
        let t = try Fixtures.tensors("mamba2_layer")
        let cfg = try Fixtures.json("mamba2_layer")
        let d = cfg["d_model"] as! Int
        let mc = Mamba2.Config(dState: cfg["d_state"] as! Int, dConv: cfg["d_conv"] as! Int, expand: cfg["expand"] as! Int,
                               headdim: cfg["headdim"] as! Int, ngroups: cfg["ngroups"] as! Int)
        let ws = WeightStore(tensors: t.filter { !["input", "output", "conv_state_out", "ssm_state_out"].contains($0.key) })
        let layer = try Mamba2(ws.scoped(""), dModel: d, config: mc)
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        let st = layer.makeState()
        let diff = layer.forward(x, state: st).maxAbsDifference(expected)
        print("Mamba2 golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.conv.array, t["conv_state_out"]!.values), 1e-5)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.ssm.array, t["ssm_state_out"]!.values), 1e-4)
        XCTAssertLessThanOrEqual(stepAll(layer, x, state: layer.makeState()).maxAbsDifference(expected), 1e-4)
    }

    func testS5MatchesPyTorch() throws {
        let t = try Fixtures.tensors("s5_layer")
        let cfg = try Fixtures.json("s5_layer")
        let h = cfg["d_model"] as! Int
        let sc = S5.Config(dState: cfg["d_state"] as! Int, blocks: cfg["blocks"] as! Int, clipEigs: cfg["clip_eigs"] as! Bool)
        let ws = WeightStore(tensors: t.filter { !["input", "output", "state_out_re", "state_out_im"].contains($0.key) })
        let layer = try S5(ws.scoped(""), dModel: h, config: sc)
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        let st = layer.makeState()
        let diff = layer.forward(x, state: st).maxAbsDifference(expected)
        print("S5 golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4)
        let m = layer.modes
        XCTAssertLessThanOrEqual(maxAbsDifference(Array(st.x.array[0..<m]), t["state_out_re"]!.values), 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDifference(Array(st.x.array[m...]), t["state_out_im"]!.values), 1e-4)
        XCTAssertLessThanOrEqual(stepAll(layer, x, state: layer.makeState()).maxAbsDifference(expected), 1e-4)
    }
}
