import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// Checks every `SequenceMixer` must pass (used by RecurrentParallelTests, Mamba2S5Tests and
/// SlidingWindowAttentionTests; `stepAll` also by GoldenLayerTests): the
/// three modes (parallel, recurrent, batched) agree, and state hand-over between chunks is exact.
extension XCTestCase {
    func stepAll<M: SequenceMixer>(_ layer: M, _ x: Matrix, state: M.State) -> Matrix {
        var y = Matrix(rows: x.rows, cols: x.cols)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            for t in 0..<x.rows { layer.step(xp.baseAddress! + t * x.cols, state: state, into: yp.baseAddress! + t * x.cols) }
        }}
        return y
    }

    /// forward over pieces of `sizes` (cycled), handing the state over; returns the concatenated output.
    func chunked<M: SequenceMixer>(_ layer: M, _ x: Matrix, sizes: [Int], state: M.State) -> Matrix {
        var out = Matrix(rows: 0, cols: x.cols), start = 0, i = 0
        while start < x.rows {
            let n = min(sizes[i % sizes.count], x.rows - start)
            out.append(rowsOf: layer.forward(x.rows(start..<(start + n)), state: state))
            start += n; i += 1
        }
        return out
    }

    /// Three streams stepped together (`stepBatch`) for `frames` frames equal each stream stepped alone.
    func checkBatch<M: SequenceMixer>(_ layer: M, width d: Int, frames: Int, rng: inout SeededRandom) {
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
    func checkModes<M: SequenceMixer>(_ name: String, _ layer: M, width d: Int, frames l: Int, pieces: [Int],
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
}
