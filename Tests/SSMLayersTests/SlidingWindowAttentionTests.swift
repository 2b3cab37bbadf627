import SSMBaselines
import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// The hybrid stack's sliding-window attention: its modes agree over 2 000+ frames, each frame's output
/// equals full causal attention (the benchmark baseline, an independent implementation with
/// nn.MultiheadAttention's names) over just the last W frames, its cache stays flat, and it reproduces the
/// PyTorch reference (`Training/export_fixtures.py`, float64).
final class SlidingWindowAttentionTests: XCTestCase {
    private func layer(d: Int, heads: Int, window: Int, seed: UInt64) throws -> (SlidingWindowAttention, CausalAttention) {
        var rng = SeededRandom(seed: seed)
        let t = RandomWeights.attention(prefix: "a", d: d, rng: &rng)
        let ws = WeightStore(tensors: t)
        let l = try SlidingWindowAttention(ws.scoped("a"), dModel: d, config: .init(heads: heads, window: window))
        try ws.checkAllUsed()
        // The same weights under torch.nn.MultiheadAttention's names, for the baseline.
        let full = WeightStore(tensors: ["in_proj_weight": t["a.in_proj.weight"]!, "in_proj_bias": t["a.in_proj.bias"]!,
                                         "out_proj.weight": t["a.out_proj.weight"]!, "out_proj.bias": t["a.out_proj.bias"]!])
        return (l, try CausalAttention(full.scoped(""), dModel: d, heads: heads))
    }

    func testStepMatchesParallelChunkedAndBatched() throws {
        let (l, _) = try layer(d: 32, heads: 4, window: 64, seed: 31)
        var rng = SeededRandom(seed: 32)
        checkModes("attention W64", l, width: 32, frames: 2048, pieces: [1, 3, 63, 64, 65, 500],
                   stateOf: { [$0.keys.array, $0.values.array, [Float($0.seen)]] }, rng: &rng)
    }

    /// Each frame t attends to frames t − W + 1 … t only: the same as full causal attention run over
    /// just those frames (no positional encoding, so the slice's position does not matter).
    func testEachFrameIsFullAttentionOverItsWindow() throws {
        let d = 16, w = 8
        let (l, full) = try layer(d: d, heads: 2, window: w, seed: 33)
        var rng = SeededRandom(seed: 34)
        let x = rng.matrix(40, d)
        let y = l.forward(x, state: nil)
        for t in [0, 3, 7, 8, 9, 20, 39] {
            let slice = x.rows(max(0, t - w + 1)..<(t + 1))
            let ref = full.forward(slice)
            XCTAssertLessThanOrEqual(maxAbsDifference(y.row(t), ref.row(ref.rows - 1)), 2e-6, "frame \(t)")
        }
        // A window as long as the sequence is plain causal attention.
        let (wide, _) = try layer(d: d, heads: 2, window: 40, seed: 33)
        XCTAssertLessThanOrEqual(wide.forward(x, state: nil).maxAbsDifference(full.forward(x)), 2e-6)
        XCTAssertGreaterThan(y.maxAbsDifference(full.forward(x)), 1e-3, "the window must cut off older frames")
    }

    /// The same state in consecutive rows (how the synthesizer's decoder steps known frames of one
    /// stream): row r sees the frames of rows before it, as stepping them one by one does; 12 rows run
    /// past the window of 8.
    func testBatchRowsOfOneStreamEqualSteps() throws {
        let d = 16
        let (l, _) = try layer(d: d, heads: 2, window: 8, seed: 38)
        var rng = SeededRandom(seed: 39)
        let x = rng.matrix(12, d)
        let expected = stepAll(l, x, state: l.makeState())
        let st = l.makeState()
        var out = [Float](repeating: 0, count: 12 * d)
        l.stepBatch(x.data, states: Array(repeating: st, count: 12), scratch: l.makeBatchScratch(maxBatch: 12), into: &out)
        XCTAssertLessThanOrEqual(Matrix(rows: 12, cols: d, data: out).maxAbsDifference(expected), 1e-5)
        XCTAssertEqual(st.seen, 12)
    }

    func testCacheStaysFlat() throws {
        let (l, _) = try layer(d: 16, heads: 2, window: 8, seed: 35)
        var rng = SeededRandom(seed: 36)
        let st = l.makeState()
        let before = st.cacheBytes
        _ = l.forward(rng.matrix(500, 16), state: st)
        XCTAssertEqual(st.seen, 500)
        XCTAssertEqual(st.cacheBytes, before)
        XCTAssertEqual(before, 2 * 8 * 16 * 4)
    }

    func testRejectsHeadsThatDoNotDivide() {
        var rng = SeededRandom(seed: 37)
        let ws = WeightStore(tensors: RandomWeights.attention(prefix: "a", d: 12, rng: &rng))
        XCTAssertThrowsError(try SlidingWindowAttention(ws.scoped("a"), dModel: 12, config: .init(heads: 5, window: 4)))
        XCTAssertThrowsError(try SlidingWindowAttention(ws.scoped("a"), dModel: 12, config: .init(heads: 3, window: 0)))
    }

    func testMatchesPyTorch() throws {
        let t = try Fixtures.tensors("hybrid_attention_layer")
        let cfg = try Fixtures.json("hybrid_attention_layer")
        let d = cfg["d_model"] as! Int
        let ws = WeightStore(tensors: t.filter { !["input", "output"].contains($0.key) })
        let l = try SlidingWindowAttention(ws.scoped(""), dModel: d,
                                           config: .init(heads: cfg["n_heads"] as! Int, window: cfg["window"] as! Int))
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        XCTAssertGreaterThan(x.rows, l.window, "the fixture must run past the window")
        let diff = l.forward(x, state: nil).maxAbsDifference(expected)
        print("sliding-window attention golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-5)
        XCTAssertLessThanOrEqual(stepAll(l, x, state: l.makeState()).maxAbsDifference(expected), 1e-5)
    }
}
