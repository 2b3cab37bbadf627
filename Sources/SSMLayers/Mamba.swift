import Foundation
import SSMTensor

/// Mamba (v1) selective state-space mixer.
///
/// Reference: state-spaces/mamba `mamba_ssm/modules/mamba_simple.py` (`Mamba.__init__`, `Mamba.step`)
/// and `mamba_ssm/ops/selective_scan_interface.py` (`selective_scan_ref`):
///   x, z = in_proj(u);  x = SiLU(depthwise causal conv(x) + b);  dt, B, C = split(x_proj(x))
///   dt = softplus(dt_proj(dt));  A = −exp(A_log);  h ← exp(dt·A)·h + dt·B·x;  y = h·C + D·x
///   out = out_proj(y · SiLU(z))
/// Parameter names and shapes are the reference's. A, dt and the state are kept in fp32.
public struct Mamba: SequenceMixer {
    public struct Config: Codable, Sendable, Equatable {
        /// N (`d_state`)
        public var dState: Int
        /// W (`d_conv`)
        public var dConv: Int
        public var expand: Int
        /// R (`dt_rank`); nil is the reference's "auto", ceil(d_model / 16).
        public var dtRank: Int?
        public init(dState: Int = 16, dConv: Int = 4, expand: Int = 2, dtRank: Int? = nil) {
            self.dState = dState; self.dConv = dConv; self.expand = expand; self.dtRank = dtRank
        }
        public func resolvedDtRank(dModel: Int) -> Int { dtRank ?? (dModel + 15) / 16 }

        enum CodingKeys: String, CodingKey {
            case dState = "d_state", dConv = "d_conv", expand, dtRank = "dt_rank"
        }

        /// Accepts `dt_rank` as a number, `"auto"` (the reference's default) or absent.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dState = try c.decodeIfPresent(Int.self, forKey: .dState) ?? 16
            dConv = try c.decodeIfPresent(Int.self, forKey: .dConv) ?? 4
            expand = try c.decodeIfPresent(Int.self, forKey: .expand) ?? 2
            if let s = try? c.decodeIfPresent(String.self, forKey: .dtRank) {
                guard s == "auto" else {
                    throw DecodingError.dataCorruptedError(forKey: .dtRank, in: c, debugDescription: "dt_rank must be a number or \"auto\"")
                }
                dtRank = nil
            } else {
                dtRank = try c.decodeIfPresent(Int.self, forKey: .dtRank)
            }
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
    /// R
    public let dtRank: Int

    /// in_proj: (2E, D), no bias.
    let inProj: Linear
    /// conv1d.weight (E, 1, W) stored as (E, W).
    let convWeight: [Float]
    /// conv1d.bias (E).
    let convBias: [Float]
    /// x_proj: (R + 2N, E), no bias.
    let xProj: Linear
    /// dt_proj: (E, R) with bias (E).
    let dtProj: Linear
    /// A = −exp(A_log): (E, N), fp32.
    let a: [Float]
    /// D skip: (E).
    let skip: [Float]
    /// out_proj: (D, E), no bias.
    let outProj: Linear

    public init(_ w: ScopedWeights, dModel d: Int, config: Config) throws {
        let e = config.expand * d, n = config.dState, wC = config.dConv, r = config.resolvedDtRank(dModel: d)
        guard e > 0, n > 0, wC > 0, r > 0 else {
            throw WeightError.invalidConfig("Mamba sizes must be positive (expand \(config.expand), d_state \(n), d_conv \(wC), dt_rank \(r))")
        }
        dModel = d; dInner = e; dState = n; dConv = wC; dtRank = r
        inProj = try Linear(w.scoped("in_proj"), inFeatures: d, outFeatures: 2 * e, bias: false)
        convWeight = try w.take("conv1d.weight", shape: [e, 1, wC])
        convBias = try w.take("conv1d.bias", shape: [e])
        xProj = try Linear(w.scoped("x_proj"), inFeatures: e, outFeatures: r + 2 * n, bias: false)
        dtProj = try Linear(w.scoped("dt_proj"), inFeatures: r, outFeatures: e, bias: true)
        a = try w.take("A_log", shape: [e, n]).map { -expf($0) }
        skip = try w.take("D", shape: [e])
        outProj = try Linear(w.scoped("out_proj"), inFeatures: e, outFeatures: d, bias: false)
    }

    /// Per-stream recurrent state (the reference's `conv_state`, `ssm_state`) and step scratch.
    public final class State: SequenceMixerState {
        /// (E, W): the last W conv inputs per channel, newest last (reference layout).
        public let conv: FloatBuffer
        /// (E, N) SSM state, fp32.
        public let ssm: FloatBuffer
        /// (2E) in_proj output: x then z.
        let xz: FloatBuffer
        /// (R + 2N) x_proj output: dt_raw, B, C.
        let xdbl: FloatBuffer
        /// (E) dt after softplus.
        let dt: FloatBuffer
        /// (E) gated SSM output.
        let y: FloatBuffer

        init(_ m: Mamba) {
            conv = FloatBuffer(count: m.dInner * m.dConv)
            ssm = FloatBuffer(count: m.dInner * m.dState)
            xz = FloatBuffer(count: 2 * m.dInner)
            xdbl = FloatBuffer(count: m.dtRank + 2 * m.dState)
            dt = FloatBuffer(count: m.dInner)
            y = FloatBuffer(count: m.dInner)
        }

        public func reset() { conv.zero(); ssm.zero() }
    }

    public func makeState() -> State { State(self) }

    /// Depthwise causal conv step for channel `c` (SiLU follows, over all channels at once).
    @inline(__always)
    private func convStep(_ c: Int, _ x: Float, _ window: UnsafeMutablePointer<Float>,
                          _ wt: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        depthwiseConvStep(channel: c, x, window: window, width: dConv, weight: wt, bias: b)
    }

    /// The element-wise part of one frame, after the projections: `x (E)` is SiLU(conv), `z (E)` the
    /// gate before SiLU, `dt (E)` dt_proj's output before softplus, `bc (2N)` B then C. Applies SiLU to
    /// z and softplus to dt in place, advances `h (E, N)` and writes the gated output to `y (E)`.
    /// Every mode (step, stepBatch, forward) goes through here.
    @inline(__always)
    private func scan(x: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, dt: UnsafeMutablePointer<Float>,
                      bc: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let e = dInner, n = dState
        Activation.silu(z, count: e)
        Activation.softplus(dt, count: e)
        a.withUnsafeBufferPointer { ap in skip.withUnsafeBufferPointer { d in
            VectorMath.selectiveScanStep(h: h, a: ap.baseAddress!, dt: dt, x: x, b: bc, c: bc + n, d: d.baseAddress!,
                                         gate: z, y: y, channels: e, states: n)
        }}
    }

    /// Recurrent mode: one frame `u (D)` → `out (D)`, advancing `state`. Allocates nothing.
    public func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>) {
        let e = dInner, r = dtRank
        let xz = state.xz.pointer, xdbl = state.xdbl.pointer, dt = state.dt.pointer, y = state.y.pointer
        inProj(u, into: xz)
        convWeight.withUnsafeBufferPointer { wt in convBias.withUnsafeBufferPointer { b in
            for c in 0..<e { xz[c] = convStep(c, xz[c], state.conv.pointer, wt, b) }
        }}
        Activation.silu(xz, count: e)
        xProj(UnsafePointer(xz), into: xdbl)
        dtProj(UnsafePointer(xdbl), into: dt)
        scan(x: xz, z: xz + e, dt: dt, bc: UnsafePointer(xdbl + r), h: state.ssm.pointer, into: y)
        outProj(UnsafePointer(y), into: out)
    }

    /// Scratch for advancing up to `maxBatch` streams at once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, 2E) in_proj; (B, E) conv output; (B, R + 2N) x_proj; (B, R) dt input; (B, E) dt; (B, E) gated y.
        let xz: FloatBuffer, xc: FloatBuffer, xdbl: FloatBuffer, dtIn: FloatBuffer, dt: FloatBuffer, y: FloatBuffer
        init(_ m: Mamba, maxBatch: Int) {
            self.maxBatch = maxBatch
            let e = m.dInner, r = m.dtRank, n = m.dState
            xz = FloatBuffer(count: maxBatch * 2 * e); xc = FloatBuffer(count: maxBatch * e)
            xdbl = FloatBuffer(count: maxBatch * (r + 2 * n)); dtIn = FloatBuffer(count: maxBatch * r)
            dt = FloatBuffer(count: maxBatch * e); y = FloatBuffer(count: maxBatch * e)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// B independent streams, one frame each: `u (B, D)` → `out (B, D)`. The four projections run as
    /// one SGEMM each over the batch; the conv and the selective-scan update run per stream on its own
    /// state. Same result as `step` per stream.
    public func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch s: BatchScratch, into out: UnsafeMutablePointer<Float>) {
        let b = states.count, e = dInner, r = dtRank, n = dState, k = r + 2 * n
        precondition(b <= s.maxBatch, "batch of \(b) exceeds the scratch's \(s.maxBatch)")
        let xz = s.xz.pointer, xc = s.xc.pointer, xdbl = s.xdbl.pointer, dtIn = s.dtIn.pointer, dt = s.dt.pointer, y = s.y.pointer
        inProj(u, rows: b, into: xz)
        convWeight.withUnsafeBufferPointer { wt in convBias.withUnsafeBufferPointer { bias in
            for (i, st) in states.enumerated() {
                for c in 0..<e { xc[i * e + c] = convStep(c, xz[i * 2 * e + c], st.conv.pointer, wt, bias) }
            }
        }}
        Activation.silu(xc, count: b * e)
        xProj(UnsafePointer(xc), rows: b, into: xdbl)
        for i in 0..<b { (dtIn + i * r).update(from: xdbl + i * k, count: r) }
        dtProj(UnsafePointer(dtIn), rows: b, into: dt)
        for (i, st) in states.enumerated() {
            scan(x: xc + i * e, z: xz + i * 2 * e + e, dt: dt + i * e, bc: UnsafePointer(xdbl + i * k + r),
                 h: st.ssm.pointer, into: y + i * e)
        }
        outProj(UnsafePointer(y), rows: b, into: out)
    }

    /// Parallel mode over `u (L, D)` → `(L, D)`: the projections run as one SGEMM each over the
    /// sequence; the conv and the selective scan run along time. Continues from `state` if given
    /// and leaves it as stepping the same frames would.
    public func forward(_ u: Matrix, state: State? = nil) -> Matrix {
        precondition(u.cols == dModel, "Mamba expects width \(dModel), got \(u.cols)")
        let l = u.rows, e = dInner, n = dState, r = dtRank
        guard l > 0 else { return Matrix(rows: 0, cols: dModel) }
        let st = state ?? makeState()
        var xz = inProj(u) // (L, 2E)
        var xc = Matrix(rows: l, cols: e)
        convWeight.withUnsafeBufferPointer { wt in convBias.withUnsafeBufferPointer { b in
            for t in 0..<l { for c in 0..<e { xc.data[t * e + c] = convStep(c, xz.data[t * 2 * e + c], st.conv.pointer, wt, b) } }
        }}
        xc.data.withUnsafeMutableBufferPointer { Activation.silu($0.baseAddress!, count: $0.count) }
        let xdbl = xProj(xc) // (L, R + 2N)
        var dtIn = Matrix(rows: l, cols: r)
        for t in 0..<l { for j in 0..<r { dtIn.data[t * r + j] = xdbl.data[t * (r + 2 * n) + j] } }
        var dt = dtProj(dtIn) // (L, E)
        var y = Matrix(rows: l, cols: e)
        xc.data.withUnsafeBufferPointer { xp in xz.data.withUnsafeMutableBufferPointer { zp in
        dt.data.withUnsafeMutableBufferPointer { dp in xdbl.data.withUnsafeBufferPointer { xd in
        y.data.withUnsafeMutableBufferPointer { yp in
            for t in 0..<l {
                scan(x: xp.baseAddress! + t * e, z: zp.baseAddress! + t * 2 * e + e, dt: dp.baseAddress! + t * e,
                     bc: xd.baseAddress! + t * (r + 2 * n) + r, h: st.ssm.pointer, into: yp.baseAddress! + t * e)
            }
        }}}}}
        return outProj(y)
    }
}

/// One frame of the reference's depthwise causal conv on channel `c`, in its conv-state layout
/// (`window (C, W)`: the last W inputs per channel, oldest first; `weight (C, W)`): rolls the channel's
/// row, appends `x`, returns weight·row + bias. Mamba and Mamba-2 step their convolutions with it.
@inline(__always)
func depthwiseConvStep(channel c: Int, _ x: Float, window: UnsafeMutablePointer<Float>, width w: Int,
                       weight wt: UnsafeBufferPointer<Float>, bias b: UnsafeBufferPointer<Float>) -> Float {
    let row = window + c * w
    var acc = b[c]
    for k in 0..<(w - 1) {
        row[k] = row[k + 1]
        acc += row[k] * wt[c * w + k]
    }
    row[w - 1] = x
    acc += x * wt[c * w + w - 1]
    return acc
}
