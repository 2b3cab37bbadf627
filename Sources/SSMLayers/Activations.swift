import SSMTensor

/// Element-wise activations over whole buffers, in place, matching PyTorch's definitions in fp32:
/// exact GELU (`nn.GELU()` default, 0.5·x·(1 + erf(x/√2))), SiLU (x·σ(x)), and `F.softplus` with its
/// default threshold 20 (x above it passes through unchanged). They run `VectorMath`'s vectorised
/// kernels; every model path uses these, so recurrent and parallel runs apply the same arithmetic.
/// `VectorMathTests` checks them against float64 definitions.
public enum Activation {
    public static func gelu(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.gelu(p, count: count) }
    public static func silu(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.silu(p, count: count) }
    public static func softplus(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.softplus(p, count: count) }
    public static func gelu(_ m: inout Matrix) { m.data.withUnsafeMutableBufferPointer { gelu($0.baseAddress!, count: $0.count) } }

    /// GLU over channels: `out[j] = z[j] · σ(z[C + j])` for `z (2C)` → `out (C)` (the gate half of `z` is
    /// overwritten), as `nn.GLU(dim=channels)` after S4D's and S5's `output_linear`.
    @inline(__always)
    public static func glu(_ z: UnsafeMutablePointer<Float>, channels c: Int, into out: UnsafeMutablePointer<Float>) {
        VectorMath.sigmoid(z + c, count: c)
        for j in 0..<c { out[j] = z[j] * z[c + j] }
    }
}
