import Foundation
import SSMLayers
import SSMModels
import SSMTensor

// Dimension letters: N phoneme tokens · T mel frames · D encoder width · E decoder width · M mel bins.
// PyTorch reference: Training/tts/model.py (AcousticModel); names below are its state_dict keys.

/// `h += ReLU(Conv1d_K(LN(h)))` over the phoneme axis with "same" padding (`encoder.<i>`,
/// `duration.layers.<i>`). The same-padded convolution is the causal one read K/2 tokens later.
struct PhonemeConvLayer {
    let norm: Norm
    let conv: CausalConv1d
    let dim: Int

    init(_ w: ScopedWeights, dim d: Int, kernel k: Int) throws {
        norm = try Norm(w.scoped("norm"), kind: .layernorm, dim: d)
        conv = try CausalConv1d(w.scoped("conv"), inChannels: d, outChannels: d, kernelSize: k, stride: 1)
        dim = d
    }

    func callAsFunction(_ h: inout Matrix) {
        let n = h.rows, d = dim, half = conv.kernelSize / 2
        var x = norm(h)
        x.data.append(contentsOf: repeatElement(0, count: half * d))  // K/2 zero tokens after the end
        x = Matrix(rows: n + half, cols: d, data: x.data)
        let y = conv.forward(x)  // (N + K/2, D); row n + K/2 is the same-padded output n
        for i in 0..<(n * d) { h.data[i] += max(0, y.data[half * d + i]) }
    }
}

/// Phonemes → mel frames. `prepare` runs the (non-causal, sentence-level) phoneme encoder and the
/// duration predictor once per utterance; `step` then runs the causal SSM decoder in recurrent mode,
/// one 10 ms mel frame per call, so audio can start before the sentence is computed.
public final class AcousticModel {
    public let config: TTSConfig
    /// (V, D) phoneme embeddings.
    let embedding: [Float]
    let encoder: [PhonemeConvLayer]
    let encNorm: Norm
    /// (M, D)
    let projMu: Linear
    let durLayers: [PhonemeConvLayer]
    let durNorm: Norm
    /// (1, D)
    let durProj: Linear
    /// (E, D + 2): phoneme hidden + two position features.
    let decIn: Linear
    let decoder: BlockStack
    let decNorm: Norm
    /// (M, E)
    let decOut: Linear
    /// (M) statistics of the training mels (the models work on normalised mels).
    public let melMean: [Float], melStd: [Float]
    public let parameterCount: Int

    public init(config: TTSConfig, weights store: WeightStore) throws {
        self.config = config
        let a = config.acoustic, d = a.d_model, m = config.audio.n_mels, e = a.dec_d_model
        let w = store.scoped("")
        embedding = try w.take("embedding.weight", shape: [config.vocab.count, d])
        encoder = try (0..<a.enc_layers).map { try PhonemeConvLayer(w.scoped("encoder.\($0)"), dim: d, kernel: a.enc_kernel) }
        encNorm = try Norm(w.scoped("enc_norm"), kind: .layernorm, dim: d)
        projMu = try Linear(w.scoped("proj_mu"), inFeatures: d, outFeatures: m, bias: true)
        durLayers = try (0..<a.dur_layers).map {
            try PhonemeConvLayer(w.scoped("duration.layers.\($0)"), dim: d, kernel: a.dur_kernel)
        }
        durNorm = try Norm(w.scoped("duration.norm"), kind: .layernorm, dim: d)
        durProj = try Linear(w.scoped("duration.proj"), inFeatures: d, outFeatures: 1, bias: true)
        decIn = try Linear(w.scoped("dec_in"), inFeatures: d + 2, outFeatures: e, bias: true)
        decoder = try BlockStack(w.scoped("dec_layers"), config: BlockStack.Config(
            mixer: a.dec_mixer, dModel: e, layers: a.dec_layers, norm: .layernorm, ffnMult: a.dec_ffn_mult,
            s4d: a.s4d, mamba: a.mamba))
        decNorm = try Norm(w.scoped("dec_norm"), kind: .layernorm, dim: e)
        decOut = try Linear(w.scoped("dec_out"), inFeatures: e, outFeatures: m, bias: true)
        melMean = try w.take("mel_mean", shape: [m])
        melStd = try w.take("mel_std", shape: [m])
        try store.checkAllUsed()
        parameterCount = store.names.reduce(0) { $0 + ((try? store.tensor($1).count) ?? 0) }
    }

    /// One utterance after the encoder: what the decoder reads frame by frame.
    public struct Plan {
        /// (N, D) phoneme hidden states; (N, M) phoneme mean frames.
        public let hidden: Matrix, mu: Matrix
        /// (N) frames per phoneme.
        public let durations: [Int]
        public var frames: Int { durations.reduce(0, +) }
    }

    /// Encoder + duration predictor over token ids `(N)`. `lengthScale` > 1 speaks slower.
    /// Durations: `floor((exp(log_dur) − 1) · lengthScale + 0.5)`, at least 0 (as `durations_from_log`).
    public func prepare(tokens: [Int32], lengthScale: Float = 1) -> Plan {
        let d = config.acoustic.d_model, n = tokens.count
        var h = Matrix(rows: n, cols: d)
        for (i, t) in tokens.enumerated() {
            for j in 0..<d { h.data[i * d + j] = embedding[Int(t) * d + j] }
        }
        for layer in encoder { layer(&h) }
        h = encNorm(h)
        let mu = projMu(h)
        var g = h
        for layer in durLayers { layer(&g) }
        let logDur = durProj(durNorm(g))  // (N, 1)
        let durations = logDur.data.map { Int(max(0, ((expf($0) - 1) * lengthScale + 0.5).rounded(.down))) }
        return Plan(hidden: h, mu: mu, durations: durations)
    }

    /// The decoder's recurrent state for one utterance, plus preallocated buffers.
    public final class State {
        let blocks: BlockStack.State
        /// (D + 2) decoder input; (E) residual stream; (E) normalised.
        let input: FloatBuffer, x: FloatBuffer, normed: FloatBuffer
        /// (M) the most recent normalised mel frame.
        public let mel: FloatBuffer
        init(_ m: AcousticModel) {
            let a = m.config.acoustic
            blocks = m.decoder.makeState()
            input = FloatBuffer(count: a.d_model + 2)
            x = FloatBuffer(count: a.dec_d_model); normed = FloatBuffer(count: a.dec_d_model)
            mel = FloatBuffer(count: m.config.audio.n_mels)
        }
        public func reset() { blocks.reset() }
    }

    public func makeState() -> State { State(self) }

    /// One decoder step for frame k (0-based) of phoneme n (of d frames): writes the normalised mel frame
    /// to `state.mel (M)`. Allocates nothing.
    public func step(_ plan: Plan, phoneme n: Int, frame k: Int, state s: State) {
        let d = config.acoustic.d_model, m = config.audio.n_mels
        let dur = Float(plan.durations[n])
        plan.hidden.data.withUnsafeBufferPointer { hp in s.input.pointer.update(from: hp.baseAddress! + n * d, count: d) }
        s.input[d] = (Float(k) + 0.5) / dur
        s.input[d + 1] = logf(dur) / 4
        decIn(s.input.pointer, into: s.x.pointer)
        decoder.step(s.x.pointer, state: s.blocks)
        decNorm(s.x.pointer, into: s.normed.pointer)
        decOut(s.normed.pointer, into: s.mel.pointer)
        plan.mu.data.withUnsafeBufferPointer { mp in
            for j in 0..<m { s.mel[j] += mp[n * m + j] }
        }
    }
}
