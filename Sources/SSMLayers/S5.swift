import Foundation
import SSMTensor

/// S5: one multi-input multi-output diagonal state-space model shared by all D channels (S4D runs D
/// independent single-channel SSMs instead), followed by S4D's output block.
///
/// Reference: Smith, Warrington, Linderman, "Simplified State Space Layers for Sequence Modeling" (ICLR
/// 2023), lindermanlab/S5 `s5/ssm.py` (`S5SSM`, `discretize_zoh`) with conjugate symmetry; PyTorch port
/// in `Training/ssmspeech_ref/s5.py`. Letters: D (= H) channels, P the complex state size, of which
/// P/2 modes are stored (conjugate pairs). Per frame, with the state x (P/2) complex:
///   Λ = Λ_re + i·Λ_im (Re clamped at −1e-4 with `clip_eigs`);  Δ = exp(log_step);  Λ̄ = exp(Λ·Δ)
///   B̄ = (exp(Λ·Δ) − 1)/Λ · B (zero-order hold);   x ← Λ̄·x + B̄·u;   y = 2·Re(C·x) + D·u
///   out = GLU(output_linear(GELU(y)))       (output_linear = Conv1d(H, 2H, 1), as in S4D)
/// The engine keeps x as [Re x; Im x] (P reals), so B̄ becomes one real (P, H) matrix and 2·Re(C·)
/// one real (H, P) matrix: both are SGEMV per frame and SGEMM per batch or sequence.
public struct S5: SequenceMixer {
    public struct Config: Codable, Sendable, Equatable {
        /// P (`d_state`), the complex state size; P/2 modes are stored.
        public var dState: Int
        /// J, blocks of the HiPPO-N initialisation (training only; kept so configs round-trip).
        public var blocks: Int
        /// Clamp Re(Λ) at −1e-4 when discretising (the reference's `clip_eigs`).
        public var clipEigs: Bool

        public init(dState: Int = 64, blocks: Int = 1, clipEigs: Bool = false) {
            self.dState = dState; self.blocks = blocks; self.clipEigs = clipEigs
        }

        enum CodingKeys: String, CodingKey { case dState = "d_state", blocks, clipEigs = "clip_eigs" }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dState = try c.decodeIfPresent(Int.self, forKey: .dState) ?? 64
            blocks = try c.decodeIfPresent(Int.self, forKey: .blocks) ?? 1
            clipEigs = try c.decodeIfPresent(Bool.self, forKey: .clipEigs) ?? false
        }
    }

    /// H (= d_model)
    public let channels: Int
    /// P/2 stored complex modes.
    public let modes: Int
    /// (P/2) Λ̄, real and imaginary parts.
    let lamRe: [Float], lamIm: [Float]
    /// B̄ as a real (P, H) map u → [Re(B̄u); Im(B̄u)], no bias.
    let inputMap: Linear
    /// 2·Re(C·) as a real (H, P) map [Re x; Im x] → y, bias-free (D·u is added apart).
    let outputMap: Linear
    /// (H) skip term `D`.
    let skip: [Float]
    /// Conv1d(H, 2H, 1) of `output_linear.0` as a Linear (2H, H).
    let outputLinear: Linear

    /// Binds `Lambda_re (P/2)`, `Lambda_im (P/2)`, `B (P/2, H, 2)`, `C (H, P/2, 2)`, `D (H)`,
    /// `log_step (P/2, 1)`, `output_linear.0.weight (2H, H, 1)`, `output_linear.0.bias (2H)`.
    public init(_ w: ScopedWeights, dModel h: Int, config: Config) throws {
        guard config.dState >= 2, config.dState % 2 == 0 else {
            throw WeightError.invalidConfig("S5 d_state must be even and ≥ 2, got \(config.dState)")
        }
        let m = config.dState / 2
        channels = h
        modes = m
        let lre = try w.take("Lambda_re", shape: [m]), lim = try w.take("Lambda_im", shape: [m])
        let b = try w.take("B", shape: [m, h, 2]), c = try w.take("C", shape: [h, m, 2])
        let logStep = try w.take("log_step", shape: [m, 1])
        skip = try w.take("D", shape: [h])
        // Discretise in double precision: Λ̄ = exp(ΛΔ), B̄ = expm1(ΛΔ)/Λ · B.
        var lamRe = [Float](repeating: 0, count: m), lamIm = lamRe
        var bin = [Float](repeating: 0, count: 2 * m * h)  // (P, H): rows 0..<m real parts, m..<2m imaginary
        var cout = [Float](repeating: 0, count: h * 2 * m) // (H, P): columns 0..<m for Re x, m..<2m for Im x
        for k in 0..<m {
            let ar = config.clipEigs ? min(Double(lre[k]), -1e-4) : Double(lre[k]), ai = Double(lim[k])
            let delta = exp(Double(logStep[k]))
            let xr = ar * delta, xi = ai * delta                           // ΛΔ
            let ex = exp(xr)
            lamRe[k] = Float(ex * cos(xi)); lamIm[k] = Float(ex * sin(xi))
            // expm1(ΛΔ) without cancellation: e^xr·cos xi − 1 = expm1(xr)·cos xi − 2·sin²(xi/2)
            let s = sin(xi / 2)
            let nr = expm1(xr) * cos(xi) - 2 * s * s, ni = ex * sin(xi)
            let den = ar * ar + ai * ai
            let fr = (nr * ar + ni * ai) / den, fi = (ni * ar - nr * ai) / den  // expm1(ΛΔ)/Λ
            for j in 0..<h {
                let br = Double(b[(k * h + j) * 2]), bi = Double(b[(k * h + j) * 2 + 1])
                bin[k * h + j] = Float(fr * br - fi * bi)
                bin[(m + k) * h + j] = Float(fr * bi + fi * br)
                let cr = Double(c[(j * m + k) * 2]), ci = Double(c[(j * m + k) * 2 + 1])
                cout[j * 2 * m + k] = Float(2 * cr)          // 2·Re(C·x) = 2(c_r·x_r − c_i·x_i)
                cout[j * 2 * m + m + k] = Float(-2 * ci)
            }
        }
        self.lamRe = lamRe; self.lamIm = lamIm
        // The state maps stay float32 at any precision: they feed a recurrence that runs for hours.
        inputMap = Linear(inFeatures: h, outFeatures: 2 * m, weight: bin, bias: nil)
        outputMap = Linear(inFeatures: 2 * m, outFeatures: h, weight: cout, bias: nil)
        outputLinear = Linear(inFeatures: h, outFeatures: 2 * h,
                              weight: try w.take("output_linear.0.weight", shape: [2 * h, h, 1]),
                              bias: try w.take("output_linear.0.bias", shape: [2 * h]),
                              precision: w.store.matrixPrecision)
    }

    /// Per-stream recurrent state and scratch (allocated once).
    public final class State: SequenceMixerState {
        /// (P): [Re x (P/2); Im x (P/2)].
        public let x: FloatBuffer
        /// (P) B̄·u of the frame.
        let v: FloatBuffer
        /// (H) SSM output; (2H) output_linear result before GLU.
        let y: FloatBuffer, z: FloatBuffer

        init(channels: Int, modes: Int) {
            x = FloatBuffer(count: 2 * modes)
            v = FloatBuffer(count: 2 * modes)
            y = FloatBuffer(count: channels)
            z = FloatBuffer(count: 2 * channels)
        }

        public func reset() { x.zero() }
    }

    public func makeState() -> State { State(channels: channels, modes: modes) }

    /// x ← Λ̄·x + v for one frame (`v` = B̄·u, [Re; Im]).
    @inline(__always)
    private func recur(_ v: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>) {
        let m = modes
        lamRe.withUnsafeBufferPointer { lr in lamIm.withUnsafeBufferPointer { li in
            for k in 0..<m {
                let r = x[k], q = x[m + k]
                x[k] = lr[k] * r - li[k] * q + v[k]
                x[m + k] = lr[k] * q + li[k] * r + v[m + k]
            }
        }}
    }

    /// y (H) += D·u, then GELU (before output_linear).
    @inline(__always)
    private func skipAndGelu(_ u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        let h = channels
        skip.withUnsafeBufferPointer { d in
            for r in 0..<rows { for j in 0..<h { y[r * h + j] += d[j] * u[r * h + j] } }
        }
        Activation.gelu(y, count: rows * h)
    }

    /// GLU over channels of `z (2H)` into `out (H)` (the gate half of `z` is overwritten).
    @inline(__always)
    func glu(_ z: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        Activation.glu(z, channels: channels, into: out)
    }

    /// Recurrent mode: one frame `u (H)` → `out (H)`, advancing `state`. Allocates nothing.
    public func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>) {
        inputMap(u, into: state.v.pointer)
        recur(UnsafePointer(state.v.pointer), x: state.x.pointer)
        outputMap(UnsafePointer(state.x.pointer), into: state.y.pointer)
        skipAndGelu(u, state.y.pointer, rows: 1)
        outputLinear(UnsafePointer(state.y.pointer), into: state.z.pointer)
        glu(state.z.pointer, into: out)
    }

    /// Scratch for advancing up to `maxBatch` streams at once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, P) inputs B̄·u, then the states after the step; (B, H) SSM outputs; (B, 2H) output_linear.
        let v: FloatBuffer, y: FloatBuffer, z: FloatBuffer
        init(_ s: S5, maxBatch: Int) {
            self.maxBatch = maxBatch
            v = FloatBuffer(count: maxBatch * 2 * s.modes)
            y = FloatBuffer(count: maxBatch * s.channels)
            z = FloatBuffer(count: maxBatch * 2 * s.channels)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// B independent streams, one frame each: `u (B, H)` → `out (B, H)`. The three matrices run as one
    /// SGEMM each over the batch; the diagonal update runs per stream on its own state.
    public func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch s: BatchScratch, into out: UnsafeMutablePointer<Float>) {
        let b = states.count, h = channels, p = 2 * modes
        precondition(b <= s.maxBatch, "batch of \(b) exceeds the scratch's \(s.maxBatch)")
        let v = s.v.pointer
        inputMap(u, rows: b, into: v)
        for (i, st) in states.enumerated() {
            recur(UnsafePointer(v + i * p), x: st.x.pointer)
            (v + i * p).update(from: st.x.pointer, count: p) // the rows of the output map's input
        }
        outputMap(UnsafePointer(v), rows: b, into: s.y.pointer)
        skipAndGelu(u, s.y.pointer, rows: b)
        outputLinear(UnsafePointer(s.y.pointer), rows: b, into: s.z.pointer)
        for i in 0..<b { glu(s.z.pointer + i * 2 * h, into: out + i * h) }
    }

    /// Parallel mode over `u (L, H)` → `(L, H)`: the input map, output map and output_linear run as one
    /// SGEMM each over the sequence; the diagonal recurrence runs along time. Continues from `state` if
    /// given and leaves it as stepping the same frames would.
    public func forward(_ u: Matrix, state: State? = nil) -> Matrix {
        precondition(u.cols == channels, "S5 expects \(channels) channels, got \(u.cols)")
        let l = u.rows, h = channels, p = 2 * modes
        guard l > 0 else { return Matrix(rows: 0, cols: h) }
        let st = state ?? makeState()
        var xs = inputMap(u) // (L, P): B̄·u, then overwritten by the states
        xs.data.withUnsafeMutableBufferPointer { xp in
            for t in 0..<l {
                recur(UnsafePointer(xp.baseAddress! + t * p), x: st.x.pointer)
                (xp.baseAddress! + t * p).update(from: st.x.pointer, count: p)
            }
        }
        var y = outputMap(xs) // (L, H)
        u.data.withUnsafeBufferPointer { up in y.data.withUnsafeMutableBufferPointer { yp in
            skipAndGelu(up.baseAddress!, yp.baseAddress!, rows: l)
        }}
        var z = outputLinear(y) // (L, 2H)
        var out = Matrix(rows: l, cols: h)
        z.data.withUnsafeMutableBufferPointer { zp in out.data.withUnsafeMutableBufferPointer { op in
            for t in 0..<l { glu(zp.baseAddress! + t * 2 * h, into: op.baseAddress! + t * h) }
        }}
        return out
    }
}
