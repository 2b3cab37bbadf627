import Foundation
import SSMTensor

/// Causal multi-head self-attention over a sliding window of the last `window` frames: the attention
/// layer of the Jamba-style hybrid stack (Mamba layers with one of these every `attn_every` layers).
/// Its key/value cache is a ring buffer of `window` frames, so, like an SSM's, a stream's state and the
/// cost of a step stay flat however long the stream runs.
///
/// Reference: Lieber et al., "Jamba: A Hybrid Transformer-Mamba Language Model" (2024), attention
/// interleaved with Mamba layers and no positional encoding (the Mamba layers carry position); parameter
/// names of state-spaces/mamba `mamba_ssm/modules/mha.py` (`MHA`):
/// https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mha.py. PyTorch reference:
/// `Training/ssmspeech_ref/attention.py`.
///
/// Letters (besides D): A heads (`n_heads`) of width Dh = D / A; S the window (`window`), the number of
/// keys a frame sees, itself included. Per frame t:
///   [q; k; v] = in_proj(u)            q, k, v (D) = A heads of Dh, contiguous per head
///   keys, values ← k, v               (ring buffer of the last S frames)
///   o_a = Σ_j softmax_j(q_a·k_{a,j} / √Dh) · v_{a,j}   over j = max(0, t − S + 1) … t
///   out = out_proj(o)
public struct SlidingWindowAttention: SequenceMixer {
    public struct Config: Codable, Sendable, Equatable {
        /// A, the heads (`n_heads`); D must be a multiple.
        public var heads: Int
        /// S, frames each frame attends to, itself included (`window`).
        public var window: Int

        public init(heads: Int = 4, window: Int = 64) { self.heads = heads; self.window = window }

        enum CodingKeys: String, CodingKey { case heads = "n_heads", window }
    }

    public let dModel: Int
    public let heads: Int
    public let window: Int
    /// (3D, D), (3D): [q; k; v].
    let inProj: Linear
    /// (D, D), (D).
    let outProj: Linear

    /// Binds `in_proj.weight (3D, D)`, `in_proj.bias (3D)`, `out_proj.weight (D, D)`, `out_proj.bias (D)`.
    public init(_ w: ScopedWeights, dModel d: Int, config: Config) throws {
        guard config.heads >= 1, d % config.heads == 0 else {
            throw WeightError.invalidConfig("attention n_heads (\(config.heads)) must divide d_model (\(d))")
        }
        guard config.window >= 1 else { throw WeightError.invalidConfig("attention window must be ≥ 1, got \(config.window)") }
        dModel = d; heads = config.heads; window = config.window
        inProj = try Linear(w.scoped("in_proj"), inFeatures: d, outFeatures: 3 * d, bias: true)
        outProj = try Linear(w.scoped("out_proj"), inFeatures: d, outFeatures: d, bias: true)
    }

    /// One stream's key/value ring buffer and step scratch (allocated once, S frames).
    public final class State: SequenceMixerState {
        /// (S, D) keys and values; frame t lives in row t mod S.
        public let keys: FloatBuffer, values: FloatBuffer
        /// Frames seen since the last reset.
        public private(set) var seen = 0
        /// (3D) the frame's q, k, v; (D) the attended heads; (S) one head's weights.
        let qkv: FloatBuffer, attended: FloatBuffer, scores: FloatBuffer

        init(dModel d: Int, window w: Int) {
            keys = FloatBuffer(count: w * d); values = FloatBuffer(count: w * d)
            qkv = FloatBuffer(count: 3 * d); attended = FloatBuffer(count: d); scores = FloatBuffer(count: w)
        }

        public func reset() { seen = 0 }

        /// Bytes of the cache: flat in the stream's length.
        public var cacheBytes: Int { (keys.count + values.count) * MemoryLayout<Float>.size }

        fileprivate func advance() { seen += 1 }
    }

    public func makeState() -> State { State(dModel: dModel, window: window) }

    /// Stores the frame's k, v (`qkv` (3D) = [q; k; v]) in the ring and writes the attended heads (D) of
    /// its q over the cached frames into `o`. Allocates nothing.
    @inline(__always)
    private func attend(_ qkv: UnsafePointer<Float>, state s: State, into o: UnsafeMutablePointer<Float>) {
        let d = dModel, dh = d / heads
        let slot = s.seen % window
        (s.keys.pointer + slot * d).update(from: qkv + d, count: d)
        (s.values.pointer + slot * d).update(from: qkv + 2 * d, count: d)
        s.advance()
        let n = min(s.seen, window) // rows 0..<n hold the visible frames (their order does not matter)
        let scale = 1 / Float(dh).squareRoot()
        let p = s.scores.pointer, keys = UnsafePointer(s.keys.pointer), values = UnsafePointer(s.values.pointer)
        for a in 0..<heads {
            let q = qkv + a * dh
            var m = -Float.infinity
            for j in 0..<n {
                let k = keys + j * d + a * dh
                var dot: Float = 0
                for c in 0..<dh { dot += q[c] * k[c] }
                p[j] = dot * scale
                m = max(m, p[j])
            }
            var sum: Float = 0
            for j in 0..<n { p[j] = expf(p[j] - m); sum += p[j] }
            let oa = o + a * dh
            oa.update(repeating: 0, count: dh)
            for j in 0..<n {
                let v = values + j * d + a * dh, wj = p[j] / sum
                for c in 0..<dh { oa[c] += wj * v[c] }
            }
        }
    }

    /// Recurrent mode: one frame `u (D)` → `out (D)`, advancing `state`. Allocates nothing.
    public func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>) {
        inProj(u, into: state.qkv.pointer)
        attend(UnsafePointer(state.qkv.pointer), state: state, into: state.attended.pointer)
        outProj(UnsafePointer(state.attended.pointer), into: out)
    }

    /// Scratch for advancing up to `maxBatch` streams at once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, 3D) projected rows; (B, D) attended rows.
        let qkv: FloatBuffer, attended: FloatBuffer
        init(_ l: SlidingWindowAttention, maxBatch: Int) {
            self.maxBatch = maxBatch
            qkv = FloatBuffer(count: maxBatch * 3 * l.dModel); attended = FloatBuffer(count: maxBatch * l.dModel)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// B streams, one frame each: `u (B, D)` → `out (B, D)`. The projections run as one SGEMM each over the
    /// batch; each row attends over its own stream's ring buffer, rows in order (a state repeated in
    /// consecutive rows sees the frames of the rows before). Allocates nothing.
    public func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch s: BatchScratch, into out: UnsafeMutablePointer<Float>) {
        let b = states.count, d = dModel
        precondition(b <= s.maxBatch, "batch of \(b) exceeds the scratch's \(s.maxBatch)")
        inProj(u, rows: b, into: s.qkv.pointer)
        for (i, st) in states.enumerated() {
            attend(UnsafePointer(s.qkv.pointer + i * 3 * d), state: st, into: s.attended.pointer + i * d)
        }
        outProj(UnsafePointer(s.attended.pointer), rows: b, into: out)
    }

    /// Parallel mode over `u (L, D)` → `(L, D)`: both projections as one SGEMM over the sequence, the
    /// attention frame by frame on the ring buffer (O(L·S)). Continues from `state` if given and leaves it
    /// as stepping the same frames would.
    public func forward(_ u: Matrix, state: State? = nil) -> Matrix {
        precondition(u.cols == dModel, "attention expects \(dModel) channels, got \(u.cols)")
        let l = u.rows, d = dModel
        guard l > 0 else { return Matrix(rows: 0, cols: d) }
        let st = state ?? makeState()
        let qkv = inProj(u) // (L, 3D)
        var o = Matrix(rows: l, cols: d)
        qkv.data.withUnsafeBufferPointer { qp in o.data.withUnsafeMutableBufferPointer { op in
            for t in 0..<l { attend(qp.baseAddress! + t * 3 * d, state: st, into: op.baseAddress! + t * d) }
        }}
        return outProj(o)
    }
}
