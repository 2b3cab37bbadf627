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
}
