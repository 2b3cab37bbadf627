import SSMBaselines
import SSMLayers
import SSMTensor
import SSMTestSupport
import XCTest

/// Each layer reproduces the PyTorch reference (`Training/export_fixtures.py`) to 1e-4.
final class GoldenLayerTests: XCTestCase {
    private func store(_ t: [String: NamedTensor], dropping extra: [String]) -> WeightStore {
        WeightStore(tensors: t.filter { !extra.contains($0.key) })
    }

    func testS4DMatchesPyTorch() throws {
        let t = try Fixtures.tensors("s4d_layer")
        let cfg = try Fixtures.json("s4d_layer")
        let h = cfg["d_model"] as! Int, n = cfg["d_state"] as! Int
        let ws = store(t, dropping: ["input", "output", "state_out_real", "state_out_imag"])
        let layer = try S4D(ws.scoped(""), dModel: h, config: .init(dState: n))
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        let st = layer.makeState()
        let y = layer.forward(x, state: st)
        let diff = y.maxAbsDifference(expected)
        print("S4D golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.re.array, t["state_out_real"]!.values), 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.im.array, t["state_out_imag"]!.values), 1e-4)
        // Recurrent mode against the same fixture.
        XCTAssertLessThanOrEqual(stepAll(layer, x, state: layer.makeState()).maxAbsDifference(expected), 1e-4)
    }

    func testMambaMatchesPyTorch() throws {
        let t = try Fixtures.tensors("mamba_layer")
        let cfg = try Fixtures.json("mamba_layer")
        let d = cfg["d_model"] as! Int
        let mc = Mamba.Config(dState: cfg["d_state"] as! Int, dConv: cfg["d_conv"] as! Int,
                              expand: cfg["expand"] as! Int, dtRank: cfg["dt_rank"] as? Int)
        let ws = store(t, dropping: ["input", "output", "conv_state_out", "ssm_state_out"])
        let layer = try Mamba(ws.scoped(""), dModel: d, config: mc)
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        let st = layer.makeState()
        let y = layer.forward(x, state: st)
        let diff = y.maxAbsDifference(expected)
        print("Mamba golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.conv.array, t["conv_state_out"]!.values), 1e-5)
        XCTAssertLessThanOrEqual(maxAbsDifference(st.ssm.array, t["ssm_state_out"]!.values), 1e-4)
        XCTAssertLessThanOrEqual(stepAll(layer, x, state: layer.makeState()).maxAbsDifference(expected), 1e-4)
    }

    /// The attention baseline against torch.nn.MultiheadAttention with a causal mask; the KV cache
    /// grows by one frame per step, and a cache that starts small (reallocation) gives the same result.
    func testCausalAttentionMatchesPyTorch() throws {
        let t = try Fixtures.tensors("attention_layer")
        let cfg = try Fixtures.json("attention_layer")
        let ws = store(t, dropping: ["input", "output"])
        let layer = try CausalAttention(ws.scoped(""), dModel: cfg["d_model"] as! Int, heads: cfg["n_heads"] as! Int)
        try ws.checkAllUsed()
        let x = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
        let diff = layer.forward(x).maxAbsDifference(expected)
        print("attention golden: max abs diff \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-5)
        let st = layer.makeState(capacity: 3)
        var y = Matrix(rows: x.rows, cols: x.cols)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            for i in 0..<x.rows { layer.step(xp.baseAddress! + i * x.cols, state: st, into: yp.baseAddress! + i * x.cols) }
        } }
        XCTAssertLessThanOrEqual(y.maxAbsDifference(expected), 1e-5)
        XCTAssertEqual(st.length, x.rows)
        XCTAssertEqual(st.cacheBytes, 2 * x.rows * x.cols * 4)
    }

    func testBlocksMatchPyTorch() throws {
        let t = try Fixtures.tensors("blocks")
        func m(_ n: String) -> Matrix { Fixtures.matrix(t[n]!) }
        let ws = WeightStore(tensors: t)

        let ln = try Norm(ws.scoped("layernorm"), kind: .layernorm, dim: t["layernorm.weight"]!.count)
        XCTAssertLessThanOrEqual(ln(m("layernorm.input")).maxAbsDifference(m("layernorm.output")), 1e-5)
        let rms = try Norm(ws.scoped("rmsnorm"), kind: .rmsnorm, dim: t["rmsnorm.weight"]!.count)
        XCTAssertLessThanOrEqual(rms(m("rmsnorm.input")).maxAbsDifference(m("rmsnorm.output")), 1e-5)

        let lw = t["linear.weight"]!.shape
        let lin = try Linear(ws.scoped("linear"), inFeatures: lw[1], outFeatures: lw[0], bias: true)
        XCTAssertLessThanOrEqual(lin(m("linear.input")).maxAbsDifference(m("linear.output")), 1e-5)

        let cw = t["conv.weight"]!.shape // (Cout, Cin, K)
        let conv = try CausalConv1d(ws.scoped("conv"), inChannels: cw[1], outChannels: cw[0], kernelSize: cw[2], stride: 2)
        XCTAssertLessThanOrEqual(conv.forward(m("conv.input")).maxAbsDifference(m("conv.output")), 1e-5)

        // the in-place buffer versions every model path runs
        let activations: [(String, (UnsafeMutablePointer<Float>, Int) -> Void)] = [
            ("gelu", { Activation.gelu($0, count: $1) }), ("silu", { Activation.silu($0, count: $1) }),
            ("softplus", { Activation.softplus($0, count: $1) })]
        for (name, f) in activations {
            var got = t[name + ".input"]!.values
            got.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
            XCTAssertLessThanOrEqual(maxAbsDifference(got, t[name + ".output"]!.values), 1e-6, name)
        }
    }
}
