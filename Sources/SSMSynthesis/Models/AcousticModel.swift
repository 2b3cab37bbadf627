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
        let a = config.acoustic, d = a.dModel, m = config.audio.nMels, e = a.decDModel
        let w = store.scoped("")
        embedding = try w.take("embedding.weight", shape: [config.vocab.count, d])
        encoder = try (0..<a.encLayers).map { try PhonemeConvLayer(w.scoped("encoder.\($0)"), dim: d, kernel: a.encKernel) }
        encNorm = try Norm(w.scoped("enc_norm"), kind: .layernorm, dim: d)
        projMu = try Linear(w.scoped("proj_mu"), inFeatures: d, outFeatures: m, bias: true)
        durLayers = try (0..<a.durLayers).map {
            try PhonemeConvLayer(w.scoped("duration.layers.\($0)"), dim: d, kernel: a.durKernel)
        }
        durNorm = try Norm(w.scoped("duration.norm"), kind: .layernorm, dim: d)
        durProj = try Linear(w.scoped("duration.proj"), inFeatures: d, outFeatures: 1, bias: true)
        decIn = try Linear(w.scoped("dec_in"), inFeatures: d + 2, outFeatures: e, bias: true)
        decoder = try BlockStack(w.scoped("dec_layers"), config: BlockStack.Config(
            mixer: a.decMixer, dModel: e, layers: a.decLayers, norm: .layernorm, ffnMult: a.decFFNMult,
            s4d: a.s4d, mamba: a.mamba))
        decNorm = try Norm(w.scoped("dec_norm"), kind: .layernorm, dim: e)
        decOut = try Linear(w.scoped("dec_out"), inFeatures: e, outFeatures: m, bias: true)
        melMean = try w.take("mel_mean", shape: [m])
        melStd = try w.takePositive("mel_std", shape: [m])
        try store.checkAllUsed()
        parameterCount = store.names.reduce(0) { $0 + ((try? store.tensor($1).count) ?? 0) }
    }

    /// One utterance after the encoder: what the decoder reads frame by frame.
    public struct Plan {
        /// (N, D) phoneme hidden states; (N, M) phoneme mean frames.
        public let hidden: Matrix, mu: Matrix
        /// (N) frames per phoneme.
        public let durations: [Int]
        /// (T) for each frame: its phoneme, and its index within the phoneme.
        let phonemeOfFrame: [Int32], indexInPhoneme: [Int32]
        public var frames: Int { phonemeOfFrame.count }

        init(hidden: Matrix, mu: Matrix, durations: [Int]) {
            self.hidden = hidden; self.mu = mu; self.durations = durations
            var p: [Int32] = [], k: [Int32] = []
            for (n, d) in durations.enumerated() {
                for j in 0..<d { p.append(Int32(n)); k.append(Int32(j)) }
            }
            phonemeOfFrame = p; indexInPhoneme = k
        }
    }

    /// Encoder + duration predictor over token ids `(N)`. `lengthScale` > 1 speaks slower.
    /// Durations: `floor((exp(log_dur) − 1) · lengthScale + 0.5)`, at least 0 (as `durations_from_log`).
    public func prepare(tokens: [Int32], lengthScale: Float = 1) -> Plan {
        let d = config.acoustic.dModel, n = tokens.count
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
        let durations = logDur.data.map { Self.frames(logDuration: $0, lengthScale: lengthScale) }
        return Plan(hidden: h, mu: mu, durations: durations)
    }

    /// Most frames one phoneme may last (10 s). Trained durations stay below a second; the bound keeps
    /// a model whose outputs overflow (exp of a huge log duration is +inf) from trapping in the
    /// conversion to Int or planning hours of audio.
    public static let maxPhonemeFrames = 1_000

    /// `floor((exp(logDuration) − 1) · lengthScale + 0.5)`, at least 0 and at most `maxPhonemeFrames`
    /// (NaN counts as 0).
    static func frames(logDuration: Float, lengthScale: Float) -> Int {
        let f = ((expf(logDuration) - 1) * lengthScale + 0.5).rounded(.down)
        guard f > 0 else { return 0 }   // also NaN
        return f >= Float(maxPhonemeFrames) ? maxPhonemeFrames : Int(f)
    }

    /// Most frames one call of `decode` takes.
    public static let maxChunk = 64

    /// The decoder's recurrent state for one utterance, plus preallocated buffers for up to `maxChunk`
    /// frames per call.
    public final class State {
        let blocks: BlockStack.State
        let scratch: BlockStack.BatchScratch
        /// `blocks` repeated r times, for r = 1 … maxChunk: a chunk's rows all advance this one state.
        let repeated: [[BlockStack.State]]
        /// (R, D + 2) decoder inputs; (R, E) residual stream; (R, E) normalised.
        let input: FloatBuffer, x: FloatBuffer, normed: FloatBuffer
        /// (R, M) the normalised mel frames of the latest call.
        public let mel: FloatBuffer
        init(_ m: AcousticModel) {
            let a = m.config.acoustic, r = AcousticModel.maxChunk
            blocks = m.decoder.makeState()
            scratch = m.decoder.makeBatchScratch(maxRows: r)
            let b = blocks
            repeated = (0...r).map { Array(repeating: b, count: $0) }
            input = FloatBuffer(count: r * (a.dModel + 2))
            x = FloatBuffer(count: r * a.decDModel); normed = FloatBuffer(count: r * a.decDModel)
            mel = FloatBuffer(count: r * m.config.audio.nMels)
        }
        public func reset() { blocks.reset() }
    }

    public func makeState() -> State { State(self) }

    /// The causal decoder over frames `range` of the plan (at most `maxChunk`, continuing from the frames
    /// before): writes their normalised mel frames to `state.mel (rows, M)`. The decoder's inputs come
    /// from the plan, not from its own outputs, so a chunk runs its matrices as SGEMMs; the result equals
    /// stepping frame by frame. Allocates nothing per frame.
    public func decode(_ plan: Plan, frames range: Range<Int>, state s: State) {
        let d = config.acoustic.dModel, e = config.acoustic.decDModel, m = config.audio.nMels
        let rows = range.count
        precondition(rows >= 1 && rows <= Self.maxChunk && range.upperBound <= plan.frames, "decoder chunk \(range)")
        let input = s.input.pointer
        plan.hidden.data.withUnsafeBufferPointer { hp in
            for (r, t) in range.enumerated() {
                let n = Int(plan.phonemeOfFrame[t])
                let dur = Float(plan.durations[n]), row = input + r * (d + 2)
                row.update(from: hp.baseAddress! + n * d, count: d)
                row[d] = (Float(plan.indexInPhoneme[t]) + 0.5) / dur
                row[d + 1] = logf(dur) / 4
            }
        }
        decIn(input, rows: rows, into: s.x.pointer)
        decoder.stepBatch(s.x.pointer, states: s.repeated[rows], scratch: s.scratch)
        for r in 0..<rows { decNorm(s.x.pointer + r * e, into: s.normed.pointer + r * e) }
        decOut(s.normed.pointer, rows: rows, into: s.mel.pointer)
        plan.mu.data.withUnsafeBufferPointer { mp in
            for (r, t) in range.enumerated() {
                let n = Int(plan.phonemeOfFrame[t])
                for j in 0..<m { s.mel[r * m + j] += mp[n * m + j] }
            }
        }
    }
}
