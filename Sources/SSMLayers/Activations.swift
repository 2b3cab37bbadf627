import Foundation
import SSMTensor

/// Element-wise activations, matching PyTorch's definitions in fp32.
public enum Activation {
    /// Exact GELU (`nn.GELU()` default): x · Φ(x) = 0.5·x·(1 + erf(x/√2)).
    @inline(__always) public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678118654752)) }

    /// SiLU / swish: x · σ(x).
    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    @inline(__always) public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// `F.softplus` with PyTorch's default threshold 20: x above it passes through unchanged.
    @inline(__always) public static func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }

    // Whole buffers in place, vectorised (`VectorMath`); every model path uses these, so recurrent and
    // parallel runs agree. The scalar versions above are the libm definitions they are tested against.
    public static func gelu(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.gelu(p, count: count) }
    public static func silu(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.silu(p, count: count) }
    public static func softplus(_ p: UnsafeMutablePointer<Float>, count: Int) { VectorMath.softplus(p, count: count) }
    public static func gelu(_ m: inout Matrix) { m.data.withUnsafeMutableBufferPointer { gelu($0.baseAddress!, count: $0.count) } }
}
