import COpenBLAS
import Foundation
import SSMLayers
import SSMTensor

/// Causal multi-head self-attention with a key/value cache: the transformer baseline against which
/// the SSM layers' constant per-step cost and memory are measured (Benchmarks/Scaling). It is a
/// benchmark baseline, not part of the library (target `SSMBaselines`); its golden test against PyTorch
/// is `GoldenLayerTests.testCausalAttentionMatchesPyTorch`.
///
/// Reference: PyTorch `torch.nn.MultiheadAttention` (batch_first, causal `attn_mask`), whose parameter
/// names and shapes are used: `in_proj_weight (3D, D)`, `in_proj_bias (3D)`, `out_proj.weight (D, D)`,
/// `out_proj.bias (D)`. Per frame: `[q; k; v] = W_in·x + b_in`, append `k`, `v` to the cache, per head
/// `h` (width `Dh = D / heads`): `p = softmax(K_h·q_h / √Dh)` over the `T` cached frames,
/// `o_h = V_hᵀ·p`, then `y = W_out·o + b_out`. Unlike an SSM, the state (the cache) grows by `2·D`
/// floats per frame and each step reads all of it: cost and memory grow linearly with stream length.
public struct CausalAttention {
    public let dModel: Int
    public let heads: Int
    /// (3D, D), (3D)
    let inProj: Linear
    /// (D, D), (D)
    let outProj: Linear

    public init(_ w: ScopedWeights, dModel: Int, heads: Int) throws {
        precondition(heads >= 1 && dModel % heads == 0, "d_model must be a multiple of the head count")
        self.dModel = dModel
        self.heads = heads
        inProj = Linear(inFeatures: dModel, outFeatures: 3 * dModel,
                        weight: try w.take("in_proj_weight", shape: [3 * dModel, dModel]),
                        bias: try w.take("in_proj_bias", shape: [3 * dModel]))
        outProj = try Linear(w.scoped("out_proj"), inFeatures: dModel, outFeatures: dModel, bias: true)
    }

    /// The KV cache of one stream plus per-step scratch.
    public final class State {
        /// (capacity, D) keys and values of the frames seen so far (rows 0..<length valid).
        public private(set) var keys: FloatBuffer
        public private(set) var values: FloatBuffer
        public private(set) var capacity: Int
        public private(set) var length = 0
        /// (3D) projected q, k, v of the current frame; (D) attention output.
        let qkv: FloatBuffer, attended: FloatBuffer
        /// (capacity) attention weights of one head.
        var scores: FloatBuffer
        let d: Int

        init(dModel: Int, capacity: Int) {
            d = dModel
            self.capacity = max(1, capacity)
            keys = FloatBuffer(count: self.capacity * dModel)
            values = FloatBuffer(count: self.capacity * dModel)
            scores = FloatBuffer(count: self.capacity)
            qkv = FloatBuffer(count: 3 * dModel)
            attended = FloatBuffer(count: dModel)
        }

        /// Bytes held by the cache (what grows with the stream).
        public var cacheBytes: Int { 2 * length * d * MemoryLayout<Float>.size }

        /// Makes room for `frames` cached frames (doubling; this is where attention allocates).
        public func reserve(_ frames: Int) {
            guard frames > capacity else { return }
            let newCapacity = max(frames, 2 * capacity)
            let k = FloatBuffer(count: newCapacity * d), v = FloatBuffer(count: newCapacity * d)
            k.pointer.update(from: keys.pointer, count: length * d)
            v.pointer.update(from: values.pointer, count: length * d)
            keys = k; values = v; scores = FloatBuffer(count: newCapacity); capacity = newCapacity
        }

        /// Appends cache rows directly (benchmarks fill long caches without running every step).
        public func appendRaw(key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
            reserve(length + 1)
            (keys.pointer + length * d).update(from: key, count: d)
            (values.pointer + length * d).update(from: value, count: d)
            length += 1
        }

        public func reset() { length = 0 }

        /// Forgets all but the first `n` cached frames (benchmarks rewind with it).
        public func truncate(to n: Int) { length = min(length, max(0, n)) }
    }

    public func makeState(capacity: Int = 1024) -> State { State(dModel: dModel, capacity: capacity) }

    /// One frame: x (D) → y (D); appends to the cache.
    public func step(_ x: UnsafePointer<Float>, state s: State, into y: UnsafeMutablePointer<Float>) {
        let d = dModel, dh = d / heads
        inProj(x, into: s.qkv.pointer)
        s.appendRaw(key: s.qkv.pointer + d, value: s.qkv.pointer + 2 * d)
        let t = s.length
        let scale = 1 / Float(dh).squareRoot()
        for h in 0..<heads {
            let q = s.qkv.pointer + h * dh, p = s.scores.pointer
            // scores (T) = K_h (T, Dh, row stride D) · q_h · scale
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(t), Int32(dh), scale, s.keys.pointer + h * dh, Int32(d),
                        q, 1, 0, p, 1)
            var m = -Float.infinity
            for i in 0..<t { m = max(m, p[i]) }
            var sum: Float = 0
            for i in 0..<t { p[i] = expf(p[i] - m); sum += p[i] }
            // o_h (Dh) = V_hᵀ (Dh, T) · p / sum
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(t), Int32(dh), 1 / sum, s.values.pointer + h * dh, Int32(d),
                        p, 1, 0, s.attended.pointer + h * dh, 1)
        }
        outProj(s.attended.pointer, into: y)
    }

    /// A whole sequence (L, D) → (L, D) from an empty cache, frame by frame.
    public func forward(_ x: Matrix) -> Matrix {
        let s = makeState(capacity: x.rows)
        var y = Matrix(rows: x.rows, cols: dModel)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for t in 0..<x.rows { step(xp.baseAddress! + t * dModel, state: s, into: yp.baseAddress! + t * dModel) }
            }
        }
        return y
    }
}
