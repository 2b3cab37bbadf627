import SSMTensor

/// A causal, optionally strided 1-D convolution over time (channel-last frames).
///
/// Equivalent to `nn.Conv1d(Cin, Cout, K, stride=s)` applied after left-padding `K−1` zero frames:
/// output `t` depends on inputs `t·s−(K−1) … t·s`, so it is emitted as soon as input `t·s` arrives,
/// and `T` inputs give `ceil(T/s)` outputs. Used for the subsampling front end.
public struct CausalConv1d {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    /// (Cout, K·Cin): the PyTorch weight (Cout, Cin, K) rearranged so a window of K frames is one GEMV.
    let windowWeight: [Float]
    /// (Cout)
    let bias: [Float]
    /// (Cout, K·Cin) int8 copy of `windowWeight` for `step`, or nil (float32).
    let quantizedWindowWeight: QuantizedMatrix?

    /// `weight` in PyTorch layout (Cout, Cin, K).
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, weight: [Float], bias: [Float],
                precision: MatrixPrecision = .float32) {
        precondition(weight.count == outChannels * inChannels * kernelSize && bias.count == outChannels)
        precondition(stride >= 1 && kernelSize >= 1)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        var w = [Float](repeating: 0, count: weight.count)
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                for k in 0..<kernelSize {
                    w[o * kernelSize * inChannels + k * inChannels + c] = weight[(o * inChannels + c) * kernelSize + k]
                }
            }
        }
        windowWeight = w
        self.bias = bias
        quantizedWindowWeight = precision == .int8
            ? QuantizedMatrix(quantizing: w, rows: outChannels, cols: kernelSize * inChannels) : nil
    }

    /// Binds `<prefix>.weight (Cout, Cin, K)` and `<prefix>.bias (Cout)`, at the store's precision.
    public init(_ w: ScopedWeights, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int) throws {
        self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
                  weight: try w.take("weight", shape: [outChannels, inChannels, kernelSize]),
                  bias: try w.take("bias", shape: [outChannels]), precision: w.store.matrixPrecision)
    }

    /// Recurrent state: the K most recent input frames and how many inputs were seen.
    public final class State {
        /// (K, Cin): oldest frame first; the last slot is the newest input.
        public let window: FloatBuffer
        public private(set) var seen = 0
        let frameSize: Int

        init(kernelSize: Int, inChannels: Int) {
            window = FloatBuffer(count: kernelSize * inChannels)
            frameSize = inChannels
        }

        public func reset() { window.zero(); seen = 0 }

        /// Becomes a copy of `o` (same layer): e.g. a state primed once and reused per utterance.
        public func copy(from o: State) {
            window.pointer.update(from: o.window.pointer, count: window.count)
            seen = o.seen
        }

        /// Shifts the window by one frame and appends `x (Cin)`.
        @inline(__always) func push(_ x: UnsafePointer<Float>) {
            let total = window.count
            if total > frameSize {
                (window.pointer).update(from: window.pointer + frameSize, count: total - frameSize)
            }
            (window.pointer + (total - frameSize)).update(from: x, count: frameSize)
            seen += 1
        }

        func advance(by n: Int) { seen += n }
    }

    public func makeState() -> State { State(kernelSize: kernelSize, inChannels: inChannels) }

    /// Feeds one input frame `x (Cin)`; when an output is due, writes it to `y (Cout)` and returns true.
    @inline(__always)
    public func step(_ x: UnsafePointer<Float>, state: State, into y: UnsafeMutablePointer<Float>) -> Bool {
        state.push(x)
        guard (state.seen - 1) % stride == 0 else { return false }
        bias.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: outChannels) }
        if let q = quantizedWindowWeight {
            q.gemv(state.window.pointer, into: y, accumulate: true)
            return true
        }
        windowWeight.withUnsafeBufferPointer { w in
            BLAS.gemv(w.baseAddress!, rows: outChannels, cols: kernelSize * inChannels,
                      x: state.window.pointer, y: y, accumulate: true)
        }
        return true
    }

    /// Parallel mode over a sequence `x (T, Cin)` → `(outputs, Cout)`, continuing from `state` if given
    /// (and leaving it as stepping the same frames would). Built as im2col + one SGEMM.
    public func forward(_ x: Matrix, state: State? = nil) -> Matrix {
        precondition(x.cols == inChannels, "CausalConv1d expects \(inChannels) channels, got \(x.cols)")
        let st = state ?? makeState()
        guard x.rows > 0 else { return Matrix(rows: 0, cols: outChannels) }
        let k = kernelSize, cin = inChannels
        let history = k - 1
        let seen0 = st.seen
        // Frame lookup over [history frames from the state window] + [x rows].
        let hist = Array(st.window.buffer[cin..<(k * cin)]) // (K−1, Cin), oldest first
        func frame(_ local: Int, _ c: Int) -> Float { // local index relative to x; negative = history
            if local >= 0 { return x.data[local * cin + c] }
            let h = history + local
            return h >= 0 ? hist[h * cin + c] : 0
        }
        var positions: [Int] = []
        for j in 0..<x.rows where (seen0 + j) % stride == 0 { positions.append(j) }
        var cols = Matrix(rows: positions.count, cols: k * cin)
        for (r, j) in positions.enumerated() {
            for kk in 0..<k {
                let local = j - (k - 1) + kk
                for c in 0..<cin { cols.data[r * k * cin + kk * cin + c] = frame(local, c) }
            }
        }
        var y = Matrix(rows: positions.count, cols: outChannels)
        for r in 0..<positions.count { for o in 0..<outChannels { y.data[r * outChannels + o] = bias[o] } }
        cols.data.withUnsafeBufferPointer { cp in
            windowWeight.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    BLAS.gemmXWt(cp.baseAddress!, rows: positions.count, inDim: k * cin, w: wp.baseAddress!,
                                 outDim: outChannels, y: yp.baseAddress!, accumulate: true)
                }
            }
        }
        // New window: the K most recent frames (history + x).
        var newWindow = [Float](repeating: 0, count: k * cin)
        for kk in 0..<k {
            let local = x.rows - k + kk
            for c in 0..<cin { newWindow[kk * cin + c] = frame(local, c) }
        }
        newWindow.withUnsafeBufferPointer { st.window.pointer.update(from: $0.baseAddress!, count: k * cin) }
        st.advance(by: x.rows)
        return y
    }
}
