import SSMTensor

/// A per-channel (depthwise) causal convolution over time, channel-last frames:
/// `nn.Conv1d(C, C, K, groups=C)` after left-padding `K−1` zero frames, so output t reads inputs t−K+1 … t.
/// Used by the vocoder's ConvNeXt blocks (Vocos, made causal).
public struct DepthwiseCausalConv1d {
    public let channels: Int
    public let kernelSize: Int
    /// (K, C): tap-major copy of the PyTorch weight (C, 1, K), so one tap is a contiguous row.
    let taps: [Float]
    /// (C)
    let bias: [Float]

    /// Binds `<prefix>.weight (C, 1, K)` and `<prefix>.bias (C)`.
    public init(_ w: ScopedWeights, channels c: Int, kernelSize k: Int) throws {
        let weight = try w.take("weight", shape: [c, 1, k])
        bias = try w.take("bias", shape: [c])
        var t = [Float](repeating: 0, count: c * k)
        for ch in 0..<c { for j in 0..<k { t[j * c + ch] = weight[ch * k + j] } }
        taps = t
        channels = c; kernelSize = k
    }

    /// The K most recent input frames, oldest first, `(K, C)`.
    public final class State {
        let window: FloatBuffer
        let c: Int
        init(kernelSize: Int, channels: Int) { window = FloatBuffer(count: kernelSize * channels); c = channels }
        public func reset() { window.zero() }
        /// Copies another state of the same shape (e.g. a primed template).
        public func copy(from o: State) { window.pointer.update(from: o.window.pointer, count: window.count) }
    }

    public func makeState() -> State { State(kernelSize: kernelSize, channels: channels) }

    /// One frame: `x (C)` in, `y (C)` out. Allocates nothing.
    public func step(_ x: UnsafePointer<Float>, state s: State, into y: UnsafeMutablePointer<Float>) {
        let c = channels, k = kernelSize, w = s.window.pointer
        if k > 1 { w.update(from: w + c, count: (k - 1) * c) }
        (w + (k - 1) * c).update(from: x, count: c)
        taps.withUnsafeBufferPointer { tp in
            bias.withUnsafeBufferPointer { bp in
                for ch in 0..<c { y[ch] = bp[ch] }
                for j in 0..<k {
                    let row = tp.baseAddress! + j * c, xin = w + j * c
                    for ch in 0..<c { y[ch] += row[ch] * xin[ch] }
                }
            }
        }
    }
}
