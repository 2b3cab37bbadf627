import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// Mamba-2 and S5: recurrent mode equals parallel mode over 2 000+ frames, chunked runs with state
/// hand-over equal the whole run, a batch of streams equals each stream stepped alone, and both layers
/// reproduce the PyTorch reference (`Training/export_fixtures.py`, sequential scans in float64) to 1e-4.
final class Mamba2S5Tests: XCTestCase {
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
