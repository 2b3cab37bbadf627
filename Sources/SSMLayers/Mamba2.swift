import Foundation
import SSMTensor

/// Mamba-2 mixer (SSD, "state space duality"): one scalar decay per head instead of Mamba v1's
/// (E, N) matrix, and B, C shared by the heads of a group.
///
/// Reference: state-spaces/mamba `mamba_ssm/modules/mamba2_simple.py` (`Mamba2Simple`, the layer and its
/// parameters) and `mamba_ssm/modules/mamba2.py` (`Mamba2.step`, the recurrent mode); PyTorch port in
/// `Training/ssmspeech_ref/mamba2.py`. Letters beyond SequenceMixer.swift's glossary:
///   H  heads = E / P      P  head width (`headdim`)      G  groups sharing B and C (`ngroups`)
///   C  conv channels = E + 2·G·N (x, B and C go through the depthwise conv together)
/// Per frame:
///   z, xBC, dt = split(in_proj(u));  xBC = SiLU(depthwise causal conv(xBC) + b);  x, B, C = split(xBC)
///   dt = softplus(dt + dt_bias) (H);  A = −exp(A_log) (H);  for head h in group g:
///   S_h ← exp(dt_h·A_h)·S_h + dt_h·x_h ⊗ B_g   (S_h is (P, N));   y_h = S_h·C_g + D_h·x_h
///   out = out_proj(RMSNorm(y · SiLU(z)) · norm.weight)      (gated norm, norm_before_gate=False)
/// Training uses the chunked matrix form of the same recurrence; the engine runs the recurrence
/// itself in all three modes (the projections are the matrix work). A, dt and the state are fp32.
public struct Mamba2: SequenceMixer {
    public struct Config: Codable, Sendable, Equatable {
        /// N (`d_state`)
        public var dState: Int
        /// W (`d_conv`)
        public var dConv: Int
        public var expand: Int
        /// P (`headdim`)
        public var headdim: Int
        /// G (`ngroups`)
        public var ngroups: Int
        /// Training's chunk length (the engine does not use it; kept so configs round-trip).
        public var chunkSize: Int

        public init(dState: Int = 64, dConv: Int = 4, expand: Int = 2, headdim: Int = 64, ngroups: Int = 1, chunkSize: Int = 64) {
            self.dState = dState; self.dConv = dConv; self.expand = expand
            self.headdim = headdim; self.ngroups = ngroups; self.chunkSize = chunkSize
        }

        enum CodingKeys: String, CodingKey {
            case dState = "d_state", dConv = "d_conv", expand, headdim, ngroups, chunkSize = "chunk_size"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            dState = try c.decodeIfPresent(Int.self, forKey: .dState) ?? d.dState
            dConv = try c.decodeIfPresent(Int.self, forKey: .dConv) ?? d.dConv
            expand = try c.decodeIfPresent(Int.self, forKey: .expand) ?? d.expand
            headdim = try c.decodeIfPresent(Int.self, forKey: .headdim) ?? d.headdim
            ngroups = try c.decodeIfPresent(Int.self, forKey: .ngroups) ?? d.ngroups
            chunkSize = try c.decodeIfPresent(Int.self, forKey: .chunkSize) ?? d.chunkSize
        }
    }

    /// D
    public let dModel: Int
    /// E = expand · D
    public let dInner: Int
    /// N
    public let dState: Int
    /// W
    public let dConv: Int
    /// P
    public let headdim: Int
    /// H = E / P
    public let nheads: Int
    /// G
    public let ngroups: Int
    /// C = E + 2·G·N
    public let convDim: Int

    /// in_proj: (2E + 2GN + H, D), no bias; output order z (E), xBC (C), dt (H).
    let inProj: Linear
    /// conv1d.weight (C, 1, W) stored as (C, W).
    let convWeight: [Float]
    /// conv1d.bias (C).
    let convBias: [Float]
    /// dt_bias (H).
    let dtBias: [Float]
    /// A = −exp(A_log): (H), fp32.
    let a: [Float]
    /// D skip: (H).
    let skip: [Float]
    /// norm.weight (E) of the gated RMSNorm.
    let normWeight: [Float]
    /// out_proj: (D, E), no bias.
    let outProj: Linear
    static let normEps: Float = 1e-5

    /// Binds `in_proj.weight`, `conv1d.weight`, `conv1d.bias`, `dt_bias`, `A_log`, `D`, `norm.weight`,
    /// `out_proj.weight` (the reference's names and shapes).
    public init(_ w: ScopedWeights, dModel d: Int, config: Config) throws {
        let e = config.expand * d, n = config.dState, wC = config.dConv, p = config.headdim, g = config.ngroups
        guard e > 0, n > 0, wC > 0, p > 0, g > 0 else {
            throw WeightError.invalidConfig("Mamba-2 sizes must be positive (expand \(config.expand), d_state \(n), d_conv \(wC), headdim \(p), ngroups \(g))")
        }
        guard e % p == 0, (e / p) % g == 0 else {
            throw WeightError.invalidConfig("Mamba-2: d_inner \(e) must split into heads of \(p), and the \(e / max(p, 1)) heads into \(g) groups")
        }
        let h = e / p, c = e + 2 * g * n
        dModel = d; dInner = e; dState = n; dConv = wC; headdim = p; nheads = h; ngroups = g; convDim = c
        inProj = try Linear(w.scoped("in_proj"), inFeatures: d, outFeatures: 2 * e + 2 * g * n + h, bias: false)
        convWeight = try w.take("conv1d.weight", shape: [c, 1, wC])
        convBias = try w.take("conv1d.bias", shape: [c])
        dtBias = try w.take("dt_bias", shape: [h])
        a = try w.take("A_log", shape: [h]).map { -expf($0) }
        skip = try w.take("D", shape: [h])
        normWeight = try w.take("norm.weight", shape: [e])
        outProj = try Linear(w.scoped("out_proj"), inFeatures: e, outFeatures: d, bias: false)
    }

    /// Width of one in_proj output row: z (E), xBC (C), dt (H).
    var projWidth: Int { dInner + convDim + nheads }

    /// Per-stream recurrent state (the reference's `conv_state`, `ssm_state`) and step scratch.
    public final class State: SequenceMixerState {
        /// (C, W): the last W conv inputs per channel, newest last (reference layout).
        public let conv: FloatBuffer
        /// (H, P, N) SSM state, fp32.
        public let ssm: FloatBuffer
        /// (E + C + H) one in_proj output row: z, xBC, dt.
        let proj: FloatBuffer
        /// (C) conv output after SiLU: x, B, C.
        let xbc: FloatBuffer
        /// (E) gated, normalised SSM output.
        let y: FloatBuffer

        init(_ m: Mamba2) {
            conv = FloatBuffer(count: m.convDim * m.dConv)
            ssm = FloatBuffer(count: m.nheads * m.headdim * m.dState)
            proj = FloatBuffer(count: m.projWidth)
            xbc = FloatBuffer(count: m.convDim)
            y = FloatBuffer(count: m.dInner)
        }

        public func reset() { conv.zero(); ssm.zero() }
    }

    public func makeState() -> State { State(self) }

    /// Depthwise causal conv of one frame over all C channels: rolls `window (C, W)`, appends the
    /// frame's `x (C)`, writes SiLU(w·window + b) to `out (C)`.
    @inline(__always)
    private func conv(_ x: UnsafePointer<Float>, window: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        convWeight.withUnsafeBufferPointer { wt in convBias.withUnsafeBufferPointer { b in
            for c in 0..<convDim {
                out[c] = depthwiseConvStep(channel: c, x[c], window: window, width: dConv, weight: wt, bias: b)
            }
        }}
        Activation.silu(out, count: convDim)
    }

    /// The recurrence and the gated norm of one frame: `proj` is the frame's in_proj row (z and dt are
    /// overwritten: SiLU(z), softplus(dt + dt_bias)), `xbc (C)` its conv output, `s (H, P, N)` the state.
    /// Writes `y (E)`, ready for out_proj. Every mode (step, stepBatch, forward) goes through here.
    @inline(__always)
    private func ssd(proj: UnsafeMutablePointer<Float>, xbc: UnsafePointer<Float>, s: UnsafeMutablePointer<Float>,
                     into y: UnsafeMutablePointer<Float>) {
        let e = dInner, n = dState, p = headdim, headsPerGroup = nheads / ngroups
        let z = proj, dt = proj + e + convDim
        for h in 0..<nheads { dt[h] += dtBias[h] }
        Activation.softplus(dt, count: nheads)
        a.withUnsafeBufferPointer { ap in skip.withUnsafeBufferPointer { dp in
            for h in 0..<nheads {
                let g = h / headsPerGroup
                let bg = xbc + e + g * n, cg = xbc + e + ngroups * n + g * n
                let dA = expf(dt[h] * ap[h]), dth = dt[h], dh = dp[h]
                for i in (h * p)..<((h + 1) * p) {
                    let x = xbc[i], dtx = dth * x
                    let row = s + i * n
                    var acc: Float = 0
                    for k in 0..<n {
                        let v = row[k] * dA + dtx * bg[k]
                        row[k] = v
                        acc += v * cg[k]
                    }
                    y[i] = acc + dh * x
                }
            }
        }}
        // Gated RMSNorm over E: v = y · SiLU(z); y = v / rms(v) · weight.
        Activation.silu(z, count: e)
        var ms: Float = 0
        for i in 0..<e { let v = y[i] * z[i]; y[i] = v; ms += v * v }
        let inv = 1 / sqrtf(ms / Float(e) + Mamba2.normEps)
        normWeight.withUnsafeBufferPointer { wp in for i in 0..<e { y[i] *= inv * wp[i] } }
    }

    /// Recurrent mode: one frame `u (D)` → `out (D)`, advancing `state`. Allocates nothing.
    public func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>) {
        let proj = state.proj.pointer
        inProj(u, into: proj)
        conv(UnsafePointer(proj + dInner), window: state.conv.pointer, into: state.xbc.pointer)
        ssd(proj: proj, xbc: UnsafePointer(state.xbc.pointer), s: state.ssm.pointer, into: state.y.pointer)
        outProj(UnsafePointer(state.y.pointer), into: out)
    }

    /// Scratch for advancing up to `maxBatch` streams at once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, 2E + 2GN + H) in_proj rows; (B, C) conv outputs; (B, E) gated outputs.
        let proj: FloatBuffer, xbc: FloatBuffer, y: FloatBuffer
        init(_ m: Mamba2, maxBatch: Int) {
            self.maxBatch = maxBatch
            proj = FloatBuffer(count: maxBatch * m.projWidth)
            xbc = FloatBuffer(count: maxBatch * m.convDim)
            y = FloatBuffer(count: maxBatch * m.dInner)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// B independent streams, one frame each: `u (B, D)` → `out (B, D)`. in_proj and out_proj run as
    /// one SGEMM each over the batch; the conv and the recurrence run per stream on its own state.
    public func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch s: BatchScratch, into out: UnsafeMutablePointer<Float>) {
        let b = states.count, k = projWidth, c = convDim, e = dInner
        precondition(b <= s.maxBatch, "batch of \(b) exceeds the scratch's \(s.maxBatch)")
        inProj(u, rows: b, into: s.proj.pointer)
        for (i, st) in states.enumerated() {
            let proj = s.proj.pointer + i * k, xbc = s.xbc.pointer + i * c
            conv(UnsafePointer(proj + e), window: st.conv.pointer, into: xbc)
            ssd(proj: proj, xbc: UnsafePointer(xbc), s: st.ssm.pointer, into: s.y.pointer + i * e)
        }
        outProj(UnsafePointer(s.y.pointer), rows: b, into: out)
    }

    /// Parallel mode over `u (L, D)` → `(L, D)`: in_proj and out_proj as one SGEMM each over the
    /// sequence, the conv and the recurrence along time. Continues from `state` if given and leaves it
    /// as stepping the same frames would.
    public func forward(_ u: Matrix, state: State? = nil) -> Matrix {
        precondition(u.cols == dModel, "Mamba2 expects width \(dModel), got \(u.cols)")
        let l = u.rows, k = projWidth, e = dInner
        guard l > 0 else { return Matrix(rows: 0, cols: dModel) }
        let st = state ?? makeState()
        var proj = inProj(u) // (L, 2E + 2GN + H)
        var y = Matrix(rows: l, cols: e)
        proj.data.withUnsafeMutableBufferPointer { pp in y.data.withUnsafeMutableBufferPointer { yp in
            for t in 0..<l {
                let row = pp.baseAddress! + t * k
                conv(UnsafePointer(row + e), window: st.conv.pointer, into: st.xbc.pointer)
                ssd(proj: row, xbc: UnsafePointer(st.xbc.pointer), s: st.ssm.pointer, into: yp.baseAddress! + t * e)
            }
        }}
        return outProj(y)
    }
}
