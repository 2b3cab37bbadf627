import Foundation
import SSMTensor

/// S4D: a diagonal complex state-space layer with zero-order-hold discretisation.
///
/// Reference: state-spaces/s4 `models/s4/s4d.py` (`S4DKernel`, `S4D`) and the recurrent view in
/// `src/models/s4/s4.py` `SSMKernelDiag._setup_step` / `step`:
///   dt = exp(log_dt), A = −exp(log_A_real) + i·A_imag, dA = exp(dt·A), dB = (exp(dt·A) − 1)/A,
///   kernel K[l] = 2·Re(Σ_n C·dB·dA^l), recurrent step s ← dA·s + dB·u, y = 2·Re(Σ_n C·s) + D·u,
///   followed by GELU and `output_linear` = Conv1d(H, 2H, 1) + GLU over channels.
/// Parameter names and shapes are the reference's, so its checkpoints load unchanged.
public struct S4D: SequenceMixer {
    public struct Config: Codable, Sendable, Equatable {
        /// State size N as in the reference (`d_state`); N/2 complex modes are stored.
        public var dState: Int
        public init(dState: Int = 64) { self.dState = dState }

        enum CodingKeys: String, CodingKey { case dState = "d_state" }
    }

    /// H (= d_model)
    public let channels: Int
    /// N/2 complex modes per channel.
    public let modes: Int
    /// (H) skip term `D`.
    let skip: [Float]
    /// (H, N/2) discretised transition dA, real and imaginary parts.
    let dAre: [Float], dAim: [Float]
    /// (H, N/2) discretised input dB = (exp(dtA) − 1)/A.
    let dBre: [Float], dBim: [Float]
    /// (H, N/2) output projection C.
    let cRe: [Float], cIm: [Float]
    /// Double-precision copies of dtA, C·dB for building the convolution kernel accurately.
    let dtAre: [Double], dtAim: [Double], cdBre: [Double], cdBim: [Double]
    /// Conv1d(H, 2H, 1) of `output_linear.0` as a Linear (2H, H).
    let outputLinear: Linear

    /// Binds `D (H)`, `kernel.C (H, N/2, 2)`, `kernel.log_dt (H)`, `kernel.log_A_real (H, N/2)`,
    /// `kernel.A_imag (H, N/2)`, `output_linear.0.weight (2H, H, 1)`, `output_linear.0.bias (2H)`.
    public init(_ w: ScopedWeights, dModel h: Int, config: Config) throws {
        guard config.dState >= 2, config.dState % 2 == 0 else {
            throw WeightError.invalidConfig("S4D d_state must be even and ≥ 2, got \(config.dState)")
        }
        let n2 = config.dState / 2
        channels = h
        modes = n2
        skip = try w.take("D", shape: [h])
        let c = try w.take("kernel.C", shape: [h, n2, 2])
        let logDt = try w.take("kernel.log_dt", shape: [h])
        let logAReal = try w.take("kernel.log_A_real", shape: [h, n2])
        let aImag = try w.take("kernel.A_imag", shape: [h, n2])
        let count = h * n2
        var dAre = [Float](repeating: 0, count: count), dAim = dAre, dBre = dAre, dBim = dAre, cRe = dAre, cIm = dAre
        var dtAre = [Double](repeating: 0, count: count), dtAim = dtAre, cdBre = dtAre, cdBim = dtAre
        for ch in 0..<h {
            let dt = exp(Double(logDt[ch]))
            for m in 0..<n2 {
                let i = ch * n2 + m
                let ar = -exp(Double(logAReal[i])), ai = Double(aImag[i])
                let xr = ar * dt, xi = ai * dt               // dtA
                let e = exp(xr)
                let er = e * cos(xi), ei = e * sin(xi)       // exp(dtA)
                // dB = (exp(dtA) − 1) / A
                let nr = er - 1, ni = ei
                let den = ar * ar + ai * ai
                let br = (nr * ar + ni * ai) / den, bi = (ni * ar - nr * ai) / den
                let cr = Double(c[2 * i]), ci = Double(c[2 * i + 1])
                dAre[i] = Float(er); dAim[i] = Float(ei)
                dBre[i] = Float(br); dBim[i] = Float(bi)
                cRe[i] = Float(cr); cIm[i] = Float(ci)
                dtAre[i] = xr; dtAim[i] = xi
                cdBre[i] = cr * br - ci * bi; cdBim[i] = cr * bi + ci * br
            }
        }
        (self.dAre, self.dAim, self.dBre, self.dBim, self.cRe, self.cIm) = (dAre, dAim, dBre, dBim, cRe, cIm)
        (self.dtAre, self.dtAim, self.cdBre, self.cdBim) = (dtAre, dtAim, cdBre, cdBim)
        outputLinear = Linear(inFeatures: h, outFeatures: 2 * h,
                              weight: try w.take("output_linear.0.weight", shape: [2 * h, h, 1]),
                              bias: try w.take("output_linear.0.bias", shape: [2 * h]),
                              precision: w.store.matrixPrecision)
    }

    /// Per-stream recurrent state and scratch (allocated once).
    public final class State: SequenceMixerState {
        /// (H, N/2) complex state, real and imaginary parts.
        public let re: FloatBuffer, im: FloatBuffer
        /// (H) SSM output before GELU.
        let y: FloatBuffer
        /// (2H) output_linear result before GLU.
        let z: FloatBuffer

        init(channels: Int, modes: Int) {
            re = FloatBuffer(count: channels * modes)
            im = FloatBuffer(count: channels * modes)
            y = FloatBuffer(count: channels)
            z = FloatBuffer(count: 2 * channels)
        }

        public func reset() { re.zero(); im.zero() }
    }

    public func makeState() -> State { State(channels: channels, modes: modes) }

    /// The diagonal recurrence of one frame: advances `state` and writes GELU(2·Re(C·s) + D·u) to `y (H)`.
    @inline(__always)
    func recur(_ u: UnsafePointer<Float>, state: State, into y: UnsafeMutablePointer<Float>) {
        let h = channels, n2 = modes
        let sre = state.re.pointer, sim = state.im.pointer
        dAre.withUnsafeBufferPointer { ar in dAim.withUnsafeBufferPointer { ai in
        dBre.withUnsafeBufferPointer { br in dBim.withUnsafeBufferPointer { bi in
        cRe.withUnsafeBufferPointer { cr in cIm.withUnsafeBufferPointer { ci in
        skip.withUnsafeBufferPointer { d in
            for ch in 0..<h {
                let x = u[ch]
                var acc: Float = 0
                let base = ch * n2
                for m in 0..<n2 {
                    let i = base + m
                    let r = ar[i] * sre[i] - ai[i] * sim[i] + br[i] * x
                    let q = ar[i] * sim[i] + ai[i] * sre[i] + bi[i] * x
                    sre[i] = r
                    sim[i] = q
                    acc += cr[i] * r - ci[i] * q
                }
                y[ch] = 2 * acc + d[ch] * x
            }
        }}}}}}}
        Activation.gelu(y, count: h)
    }

    /// GLU over channels of `z (2H)` into `out (H)` (the gate half of `z` is overwritten).
    @inline(__always)
    func glu(_ z: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        Activation.glu(z, channels: channels, into: out)
    }

    /// Recurrent mode: one frame `u (H)` → `out (H)`, advancing `state`. Allocates nothing.
    public func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>) {
        recur(u, state: state, into: state.y.pointer)
        outputLinear(UnsafePointer(state.y.pointer), into: state.z.pointer)
        glu(state.z.pointer, into: out)
    }

    /// Scratch for advancing up to `maxBatch` streams at once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, H) recurrence outputs; (B, 2H) output_linear results.
        let y: FloatBuffer, z: FloatBuffer
        init(_ s: S4D, maxBatch: Int) {
            self.maxBatch = maxBatch
            y = FloatBuffer(count: maxBatch * s.channels)
            z = FloatBuffer(count: maxBatch * 2 * s.channels)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// B independent streams, one frame each: `u (B, H)` → `out (B, H)`. The recurrence runs per
    /// stream; `output_linear` runs as one SGEMM over the batch. Same result as `step` per stream.
    public func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch: BatchScratch, into out: UnsafeMutablePointer<Float>) {
        let b = states.count, h = channels
        precondition(b <= scratch.maxBatch, "batch of \(b) exceeds the scratch's \(scratch.maxBatch)")
        for (i, st) in states.enumerated() { recur(u + i * h, state: st, into: scratch.y.pointer + i * h) }
        outputLinear(UnsafePointer(scratch.y.pointer), rows: b, into: scratch.z.pointer)
        for i in 0..<b { glu(scratch.z.pointer + i * 2 * h, into: out + i * h) }
    }

    /// The convolution kernel K (H, L) in double precision: K[h, l] = 2·Re(Σ_n C·dB·dA^l).
    func kernel(length l: Int) -> [Double] {
        var k = [Double](repeating: 0, count: channels * l)
        for ch in 0..<channels {
            for m in 0..<modes {
                let i = ch * modes + m
                for t in 0..<l {
                    let mag = exp(dtAre[i] * Double(t)), ph = dtAim[i] * Double(t)
                    k[ch * l + t] += 2 * mag * (cdBre[i] * cos(ph) - cdBim[i] * sin(ph))
                }
            }
        }
        return k
    }

    /// Parallel mode over `u (L, H)` → `(L, H)`: FFT convolution with the kernel, plus the response
    /// to the incoming `state` (if any), which is then advanced to the state after the last frame.
    public func forward(_ u: Matrix, state: State? = nil) -> Matrix {
        precondition(u.cols == channels, "S4D expects \(channels) channels, got \(u.cols)")
        let l = u.rows, h = channels
        guard l > 0 else { return Matrix(rows: 0, cols: h) }
        let k = kernel(length: l)
        let fft = RealFFT(size: 2 * l)
        let bins = l + 1
        var ySSM = Matrix(rows: l, cols: h)
        var uSpec = [Float](repeating: 0, count: 2 * bins)
        let scale = 1 / Float(2 * l)
        for ch in 0..<h {
            // U = FFT(u[:, ch] zero-padded to 2L)
            for t in 0..<(2 * l) { fft.input[t] = t < l ? u.data[t * h + ch] : 0 }
            fft.forward()
            for i in 0..<(2 * bins) { uSpec[i] = fft.output[i] }
            // Kf = FFT(K[ch] zero-padded)
            for t in 0..<(2 * l) { fft.input[t] = t < l ? Float(k[ch * l + t]) : 0 }
            fft.forward()
            for b in 0..<bins {
                let kr = fft.output[2 * b], ki = fft.output[2 * b + 1]
                let ur = uSpec[2 * b], ui = uSpec[2 * b + 1]
                fft.output[2 * b] = kr * ur - ki * ui
                fft.output[2 * b + 1] = kr * ui + ki * ur
            }
            fft.inverse()
            for t in 0..<l { ySSM.data[t * h + ch] = fft.input[t] * scale + skip[ch] * u.data[t * h + ch] }
        }
        if let st = state {
            // Response to the initial state s0: y_t += 2·Re(Σ_n C·dA^(t+1)·s0), then the exact final state.
            for ch in 0..<h {
                for m in 0..<modes {
                    let i = ch * modes + m
                    let s0r = Double(st.re[i]), s0i = Double(st.im[i])
                    let cr = Double(cRe[i]), ci = Double(cIm[i])
                    if s0r != 0 || s0i != 0 {
                        for t in 0..<l {
                            let mag = exp(dtAre[i] * Double(t + 1)), ph = dtAim[i] * Double(t + 1)
                            let pr = mag * cos(ph), pi = mag * sin(ph)
                            let xr = pr * s0r - pi * s0i, xi = pr * s0i + pi * s0r
                            ySSM.data[t * h + ch] += Float(2 * (cr * xr - ci * xi))
                        }
                    }
                    // Final state via the recurrence in double precision.
                    var sr = s0r, si = s0i
                    let ar = Double(dAre[i]), ai = Double(dAim[i]), br = Double(dBre[i]), bi = Double(dBim[i])
                    for t in 0..<l {
                        let x = Double(u.data[t * h + ch])
                        (sr, si) = (ar * sr - ai * si + br * x, ar * si + ai * sr + bi * x)
                    }
                    st.re[i] = Float(sr)
                    st.im[i] = Float(si)
                }
            }
        }
        Activation.gelu(&ySSM)
        var z = outputLinear(ySSM) // (L, 2H)
        var out = Matrix(rows: l, cols: h)
        z.data.withUnsafeMutableBufferPointer { zp in
            out.data.withUnsafeMutableBufferPointer { op in
                for t in 0..<l { glu(zp.baseAddress! + t * 2 * h, into: op.baseAddress! + t * h) }
            }
        }
        return out
    }
}
