import Foundation
import SSMLayers
import SSMModels
import SSMTensor

// Dimension letters: M mel bins · C width · I hidden (3C) · F STFT bins (n_fft/2 + 1) · K kernel.
// PyTorch reference: Training/tts/model.py (Vocoder, istft); names below are its state_dict keys.
// After Vocos (Siuzdenko 2023, https://github.com/gemelo-ai/vocos), made causal so it streams.

/// ConvNeXt block: `x += gamma ⊙ pwconv2(GELU(pwconv1(LN(dwconv(x)))))` (`blocks.<i>`).
struct ConvNeXtBlock {
    let dwconv: DepthwiseCausalConv1d
    let norm: Norm
    /// (I, C), (C, I)
    let pwconv1: Linear, pwconv2: Linear
    /// (C)
    let gamma: [Float]
}

/// Normalised mel frames in, audio samples out, one frame (hop samples) at a time.
///
/// Each frame becomes a spectrum `exp(logmag)·(cos p + i sin p)` (F bins), an inverse real FFT (FFTW),
/// a Hann window, and an overlap-add. Frame t covers samples `[t·hop − (n_fft − hop), t·hop + hop)`, so
/// after frame t the samples before `(t − 2)·hop` are final: the algorithmic delay is `n_fft − hop`
/// samples (30 ms). Every utterance starts from a state primed with 48 frames of digital silence, as in
/// training, and ends with 3 silence frames that complete the overlap-add of the last real frame.
public final class Vocoder {
    public let config: TTSConfig
    let embed: CausalConv1d
    let norm: Norm
    let blocks: [ConvNeXtBlock]
    let finalNorm: Norm
    /// (2F, C): log magnitudes, then phases.
    let head: Linear
    /// (n_fft) periodic Hann window; (hop) 1 / Σ w² of the n_fft/hop frames over each position.
    let window: [Float], inverseEnvelope: [Float]
    /// (M) the normalised mel of digital silence, `(log(mel_floor) − mean) / std`.
    public let silence: [Float]
    /// (maxChunk, M) the same, repeated: the input of priming and of the tail.
    let silenceRows: [Float]
    public static let primingFrames = 48, tailFrames = 3
    public let parameterCount: Int
    /// State after the priming frames, copied into every new utterance's state.
    private var primed: State!

    public init(config: TTSConfig, weights store: WeightStore, melMean: [Float], melStd: [Float]) throws {
        self.config = config
        let v = config.vocoder, a = config.audio, c = v.dim
        let w = store.scoped("")
        embed = try CausalConv1d(w.scoped("embed"), inChannels: a.nMels, outChannels: c, kernelSize: v.kernel, stride: 1)
        norm = try Norm(w.scoped("norm"), kind: .layernorm, dim: c)
        blocks = try (0..<v.layers).map { i in
            let bw = w.scoped("blocks.\(i)")
            return ConvNeXtBlock(
                dwconv: try DepthwiseCausalConv1d(bw.scoped("dwconv.conv"), channels: c, kernelSize: v.kernel),
                norm: try Norm(bw.scoped("norm"), kind: .layernorm, dim: c),
                pwconv1: try Linear(bw.scoped("pwconv1"), inFeatures: c, outFeatures: v.intermediate, bias: true),
                pwconv2: try Linear(bw.scoped("pwconv2"), inFeatures: v.intermediate, outFeatures: c, bias: true),
                gamma: try bw.take("gamma", shape: [c]))
        }
        finalNorm = try Norm(w.scoped("final_norm"), kind: .layernorm, dim: c)
        head = try Linear(w.scoped("head"), inFeatures: c, outFeatures: 2 * a.nFreqs, bias: true)
        try store.checkAllUsed()
        parameterCount = store.names.reduce(0) { $0 + ((try? store.tensor($1).count) ?? 0) }

        let n = a.nFFT, hop = a.hop
        let win = (0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n))) }
        window = win
        inverseEnvelope = (0..<hop).map { p in
            var e: Float = 0
            var q = p
            while q < n { e += win[q] * win[q]; q += hop }
            return 1 / max(e, 1e-3)
        }
        let floorLog = Float(log(a.melFloor))
        let sil = (0..<a.nMels).map { (floorLog - melMean[$0]) / melStd[$0] }
        silence = sil
        silenceRows = Array((0..<Self.maxChunk).map { _ in sil }.joined())
        let p = State(self)
        var left = Self.primingFrames
        while left > 0 {
            let r = min(left, Self.maxChunk)
            silenceRows.withUnsafeBufferPointer { frames($0.baseAddress!, rows: r, state: p) }
            left -= r
        }
        primed = p
    }

    /// Most frames one call of `process` takes (the synthesizer's chunk).
    public static let maxChunk = 64

    /// One utterance's vocoder state and preallocated buffers (for up to `maxChunk` frames per call).
    public final class State {
        let embed: CausalConv1d.State
        let dw: [DepthwiseCausalConv1d.State]
        /// (R, C) residual stream, (R, C) scratch, (R, I) hidden.
        let x: FloatBuffer, y: FloatBuffer, hidden: FloatBuffer
        /// (R, 2F) head output.
        let spec: FloatBuffer
        let fft: RealFFT
        /// (n_fft) overlap-add accumulator: position 0 is the oldest sample not yet emitted.
        let ola: FloatBuffer
        /// (R · hop) the samples finalised by the latest call.
        let out: FloatBuffer
        /// Frames fed since the state was primed (the first 3 emit samples before the utterance start).
        var framesFed = 0

        init(_ v: Vocoder) {
            let c = v.config.vocoder.dim, a = v.config.audio, r = Vocoder.maxChunk
            embed = v.embed.makeState()
            dw = v.blocks.map { $0.dwconv.makeState() }
            x = FloatBuffer(count: r * c); y = FloatBuffer(count: r * c)
            hidden = FloatBuffer(count: r * v.config.vocoder.intermediate)
            spec = FloatBuffer(count: r * 2 * a.nFreqs)
            fft = RealFFT(size: a.nFFT)
            ola = FloatBuffer(count: a.nFFT)
            out = FloatBuffer(count: r * a.hop)
        }

        func copy(from o: State) {
            embed.copy(from: o.embed)
            for (a, b) in zip(dw, o.dw) { a.copy(from: b) }
            ola.pointer.update(from: o.ola.pointer, count: ola.count)
            framesFed = 0
        }
    }

    public func makeState() -> State {
        let s = State(self)
        s.copy(from: primed)
        return s
    }

    /// Back to the primed start of a new utterance.
    public func reset(_ s: State) { s.copy(from: primed) }

    /// Feeds `rows` (≤ maxChunk) normalised mel frames `(rows, M)` and returns the samples they finalise
    /// (rows · hop, less the samples before the utterance start after a reset). The buffer is the
    /// state's, valid until the next call. Allocates nothing.
    public func process(_ mel: UnsafePointer<Float>, rows: Int, state s: State) -> UnsafeBufferPointer<Float> {
        frames(mel, rows: rows, state: s)
        let hop = config.audio.hop
        let skip = max(0, min(rows, Self.tailFrames - s.framesFed))
        s.framesFed += rows
        return UnsafeBufferPointer(start: s.out.pointer + skip * hop, count: (rows - skip) * hop)
    }

    /// Ends the utterance: 3 silence frames complete the overlap-add. `body` receives the last samples.
    public func finish(state s: State, _ body: (UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        let tail = silenceRows.withUnsafeBufferPointer { process($0.baseAddress!, rows: Self.tailFrames, state: s) }
        if !tail.isEmpty { try body(tail) }
    }

    private func frames(_ mel: UnsafePointer<Float>, rows: Int, state s: State) {
        precondition(rows >= 1 && rows <= Self.maxChunk, "vocoder chunk of \(rows) frames")
        let c = config.vocoder.dim, a = config.audio, f = a.nFreqs, n = a.nFFT, hop = a.hop, m = a.nMels
        let x = s.x.pointer, y = s.y.pointer
        for r in 0..<rows { _ = embed.step(mel + r * m, state: s.embed, into: y + r * c) }
        for r in 0..<rows { norm(y + r * c, into: x + r * c) }
        for (i, b) in blocks.enumerated() {
            for r in 0..<rows { b.dwconv.step(x + r * c, state: s.dw[i], into: y + r * c) }
            for r in 0..<rows { b.norm(y + r * c, into: y + r * c) }
            b.pwconv1(y, rows: rows, into: s.hidden.pointer)
            Activation.gelu(s.hidden.pointer, count: rows * b.pwconv1.outFeatures)
            b.pwconv2(s.hidden.pointer, rows: rows, into: y)
            b.gamma.withUnsafeBufferPointer { g in
                for r in 0..<rows { for j in 0..<c { x[r * c + j] += g[j] * y[r * c + j] } }
            }
        }
        for r in 0..<rows { finalNorm(x + r * c, into: y + r * c) }
        head(y, rows: rows, into: s.spec.pointer)
        let bins = s.fft.output, maxLog = config.vocoder.maxLogMagnitude
        let ola = s.ola.pointer, scale = 1 / Float(n)
        for r in 0..<rows {
            // spectrum → real frame (FFTW's c2r is unnormalised: divide by n)
            let spec = s.spec.pointer + r * 2 * f
            for k in 0..<f {
                let mag = expf(min(spec[k], maxLog)), p = spec[f + k]
                bins[2 * k] = mag * cosf(p)
                bins[2 * k + 1] = mag * sinf(p)
            }
            // irfft ignores the imaginary parts of the DC and Nyquist bins, as numpy/torch do
            bins[1] = 0
            if n % 2 == 0 { bins[2 * (f - 1) + 1] = 0 }
            s.fft.inverse()
            let frame = s.fft.input
            window.withUnsafeBufferPointer { w in for i in 0..<n { ola[i] += frame[i] * w[i] * scale } }
            // the first hop samples are final now
            let out = s.out.pointer + r * hop
            // a sample that overflowed (weights whose products exceed Float32) is silence, not ±1 noise
            inverseEnvelope.withUnsafeBufferPointer { e in
                for i in 0..<hop { let x = ola[i] * e[i]; out[i] = x.isFinite ? x : 0 }
            }
            ola.update(from: ola + hop, count: n - hop)
            (ola + (n - hop)).update(repeating: 0, count: hop)
        }
    }
}
