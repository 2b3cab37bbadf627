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
    public static let primingFrames = 48, tailFrames = 3
    public let parameterCount: Int
    /// State after the priming frames, copied into every new utterance's state.
    private var primed: State!

    public init(config: TTSConfig, weights store: WeightStore, melMean: [Float], melStd: [Float]) throws {
        self.config = config
        let v = config.vocoder, a = config.audio, c = v.dim
        let w = store.scoped("")
        embed = try CausalConv1d(w.scoped("embed"), inChannels: a.n_mels, outChannels: c, kernelSize: v.kernel, stride: 1)
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

        let n = a.n_fft, hop = a.hop
        let win = (0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n))) }
        window = win
        inverseEnvelope = (0..<hop).map { p in
            var e: Float = 0
            var q = p
            while q < n { e += win[q] * win[q]; q += hop }
            return 1 / max(e, 1e-3)
        }
        let floorLog = Float(log(a.mel_floor))
        silence = (0..<a.n_mels).map { (floorLog - melMean[$0]) / melStd[$0] }
        let p = State(self)
        silence.withUnsafeBufferPointer { sp in
            for _ in 0..<Self.primingFrames { frame(sp.baseAddress!, state: p) }
        }
        primed = p
    }

    /// One utterance's vocoder state and preallocated buffers.
    public final class State {
        let embed: CausalConv1d.State
        let dw: [DepthwiseCausalConv1d.State]
        /// (C) residual stream, (C) scratch, (I) hidden.
        let x: FloatBuffer, y: FloatBuffer, hidden: FloatBuffer
        /// (2F) head output.
        let spec: FloatBuffer
        let fft: RealFFT
        /// (n_fft) overlap-add accumulator: position 0 is the oldest sample not yet emitted.
        let ola: FloatBuffer
        /// (hop) the samples finalised by the latest frame.
        public let out: FloatBuffer
        /// Frames fed since the state was primed (the first 3 emit samples before the utterance start).
        var framesFed = 0

        init(_ v: Vocoder) {
            let c = v.config.vocoder.dim, a = v.config.audio
            embed = v.embed.makeState()
            dw = v.blocks.map { $0.dwconv.makeState() }
            x = FloatBuffer(count: c); y = FloatBuffer(count: c)
            hidden = FloatBuffer(count: v.config.vocoder.intermediate)
            spec = FloatBuffer(count: 2 * a.nFreqs)
            fft = RealFFT(size: a.n_fft)
            ola = FloatBuffer(count: a.n_fft)
            out = FloatBuffer(count: a.hop)
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

    /// Feeds one normalised mel frame `(M)`; the `hop` samples it finalises are in `s.out`. Returns how
    /// many of them belong to the utterance (0 for the first 3 frames after a reset, else hop).
    /// Allocates nothing.
    @discardableResult
    public func step(_ mel: UnsafePointer<Float>, state s: State) -> Int {
        frame(mel, state: s)
        s.framesFed += 1
        return s.framesFed > Self.tailFrames ? config.audio.hop : 0
    }

    /// Ends the utterance: 3 silence frames complete the overlap-add. `body` receives the last samples.
    public func finish(state s: State, _ body: (UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        for _ in 0..<Self.tailFrames {
            let n = silence.withUnsafeBufferPointer { step($0.baseAddress!, state: s) }
            if n > 0 { try body(UnsafeBufferPointer(start: s.out.pointer, count: n)) }
        }
    }

    private func frame(_ mel: UnsafePointer<Float>, state s: State) {
        let c = config.vocoder.dim, a = config.audio, f = a.nFreqs, n = a.n_fft, hop = a.hop
        let x = s.x.pointer, y = s.y.pointer
        _ = embed.step(mel, state: s.embed, into: y)
        norm(y, into: x)
        for (i, b) in blocks.enumerated() {
            b.dwconv.step(x, state: s.dw[i], into: y)
            b.norm(y, into: y)
            b.pwconv1(y, into: s.hidden.pointer)
            Activation.gelu(s.hidden.pointer, count: b.pwconv1.outFeatures)
            b.pwconv2(s.hidden.pointer, into: y)
            b.gamma.withUnsafeBufferPointer { g in for j in 0..<c { x[j] += g[j] * y[j] } }
        }
        finalNorm(x, into: y)
        head(y, into: s.spec.pointer)
        // spectrum → real frame (FFTW's c2r is unnormalised: divide by n)
        let bins = s.fft.output, maxLog = config.vocoder.max_log_magnitude, spec = s.spec.pointer
        for k in 0..<f {
            let mag = expf(min(spec[k], maxLog)), p = spec[f + k]
            bins[2 * k] = mag * cosf(p)
            bins[2 * k + 1] = mag * sinf(p)
        }
        // irfft ignores the imaginary parts of the DC and Nyquist bins, as numpy/torch do
        bins[1] = 0
        if n % 2 == 0 { bins[2 * (f - 1) + 1] = 0 }
        s.fft.inverse()
        let frame = s.fft.input, ola = s.ola.pointer, scale = 1 / Float(n)
        window.withUnsafeBufferPointer { w in for i in 0..<n { ola[i] += frame[i] * w[i] * scale } }
        // the first hop samples are final now
        inverseEnvelope.withUnsafeBufferPointer { e in for i in 0..<hop { s.out[i] = ola[i] * e[i] } }
        ola.update(from: ola + hop, count: n - hop)
        (ola + (n - hop)).update(repeating: 0, count: hop)
    }
}
