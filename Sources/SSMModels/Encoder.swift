import Foundation
import SSMLayers
import SSMTensor

/// The streaming CTC encoder: feature norm (global mean, or online CMN) → causal conv subsampling (×s1·s2) → SSM blocks → CTC head.
///
/// Weights are bound explicitly by their checkpoint names (Docs/ARCHITECTURE.md). Two ways to run:
/// `forward(_:)` over a whole feature sequence (parallel mode: FFT convolution for S4D, batched
/// projections for Mamba), and `step(_:state:)` one feature frame at a time (recurrent mode), which
/// gives the same logits.
public final class Encoder {
    public let config: EncoderConfig
    /// (F) per-bin feature mean and std.
    let featureMean: [Float], featureStd: [Float]
    let conv1: CausalConv1d
    let conv2: CausalConv1d
    /// The residual SSM blocks (`layers.<i>.…`).
    let stack: BlockStack
    let normF: Norm
    let head: Linear

    public var vocabularySize: Int { config.vocab.count }
    public let parameterCount: Int
    /// How the per-frame matrix products run (the weight store's `matrixPrecision`).
    public let precision: MatrixPrecision

    public init(config: EncoderConfig, weights store: WeightStore) throws {
        try config.validate()
        self.config = config
        precision = store.matrixPrecision
        let w = store.scoped("")
        let d = config.dModel, f = config.nMels, k = config.subsampleKernel
        featureMean = try w.take("feature_norm.mean", shape: [f])
        featureStd = try w.takePositive("feature_norm.std", shape: [f])
        conv1 = try CausalConv1d(w.scoped("subsample.conv1"), inChannels: f, outChannels: d, kernelSize: k,
                                stride: config.strides[0])
        conv2 = try CausalConv1d(w.scoped("subsample.conv2"), inChannels: d, outChannels: d, kernelSize: k,
                                stride: config.strides[1])
        stack = try BlockStack(w.scoped("layers"), config: BlockStack.Config(
            mixer: config.mixer, dModel: d, layers: config.layers, norm: config.norm, ffnMult: config.ffnMult,
            s4d: config.s4d, mamba: config.mamba, mamba2: config.mamba2, s5: config.s5, hybrid: config.hybrid))
        normF = try Norm(w.scoped("norm_f"), kind: config.norm, dim: d)
        head = try Linear(w.scoped("ctc_head"), inFeatures: d, outFeatures: config.vocab.count, bias: true)
        try store.checkAllUsed()
        parameterCount = store.names.reduce(0) { $0 + ((try? store.tensor($1).count) ?? 0) }
    }

    /// Loads `config.json` and `model.safetensors` from a model folder; `precision: .int8` quantises the
    /// per-frame matrices at load time (the file stays float32).
    public convenience init(folder: ModelFolder, precision: MatrixPrecision = .float32) throws {
        let config = try EncoderConfig.load(path: folder.configPath)
        let weightsPath = folder.weightsPath
        do {
            try self.init(config: config, weights: try WeightStore(path: weightsPath, precision: precision))
        } catch let e as WeightError {
            throw ModelError.weights(path: weightsPath, e)
        }
    }

    /// `init(folder:precision:)` for the folder at `directory`.
    public convenience init(directory: String, precision: MatrixPrecision = .float32) throws {
        try self.init(folder: ModelFolder(path: directory), precision: precision)
    }

    // MARK: Parallel mode

    /// Logits `(L, V)` for a whole feature sequence `(T, F)`, with `L = ceil(ceil(T/s1)/s2)`.
    public func forward(_ features: Matrix) -> Matrix {
        let f = config.nMels
        precondition(features.cols == f, "encoder expects \(f) mel bins, got \(features.cols)")
        var x = features
        var m = featureMean  // (F) online CMN's running mean
        let rows = x.rows
        m.withUnsafeMutableBufferPointer { m in x.data.withUnsafeMutableBufferPointer { d in
            for t in 0..<rows { normalize(d.baseAddress! + t * f, frame: t, runningMean: m.baseAddress!) }
        }}
        var h = conv1.forward(x)
        Activation.gelu(&h)
        h = conv2.forward(h)
        Activation.gelu(&h)
        h = stack.forward(h)
        return head(normF(h))
    }

    // MARK: Recurrent mode

    /// Everything that lives across frames for one stream, plus preallocated scratch.
    public final class State {
        let conv1: CausalConv1d.State
        let conv2: CausalConv1d.State
        let blocks: BlockStack.State
        /// (F) normalised input frame.
        let input: FloatBuffer
        /// (F) online CMN's running mean, and the feature frames it has seen.
        let runningMean: FloatBuffer
        var featureFrames = 0
        private let initialMean: [Float]
        /// (D) conv1 output, conv2 output / residual stream.
        let c1: FloatBuffer, hidden: FloatBuffer
        /// (D) normalised output of the last block.
        let normed: FloatBuffer
        /// (V) logits of the most recent output frame.
        public let logits: FloatBuffer
        /// Output frames produced so far.
        public private(set) var outputFrames = 0

        init(_ e: Encoder) {
            let d = e.config.dModel
            conv1 = e.conv1.makeState()
            conv2 = e.conv2.makeState()
            blocks = e.stack.makeState()
            input = FloatBuffer(count: e.config.nMels)
            runningMean = FloatBuffer(count: e.config.nMels)
            initialMean = e.featureMean
            for j in 0..<e.config.nMels { runningMean.pointer[j] = initialMean[j] }
            c1 = FloatBuffer(count: d); hidden = FloatBuffer(count: d)
            normed = FloatBuffer(count: d)
            logits = FloatBuffer(count: e.config.vocab.count)
        }

        /// Returns the stream to its initial state (start of a new utterance).
        public func reset() {
            conv1.reset(); conv2.reset(); blocks.reset()
            outputFrames = 0
            featureFrames = 0
            for j in initialMean.indices { runningMean.pointer[j] = initialMean[j] }
        }

        func didEmit() { outputFrames += 1 }
    }

    public func makeState() -> State { State(self) }

    /// Normalises feature frame `t` (F) of a stream in place: `(x − mean)/std`, or with online CMN
    /// `(x − m_t)/std` after moving the running mean `m (F)` to `m_t`. Both modes call it, so they agree.
    @inline(__always)
    func normalize(_ x: UnsafeMutablePointer<Float>, frame t: Int, runningMean m: UnsafeMutablePointer<Float>) {
        let f = config.nMels
        featureStd.withUnsafeBufferPointer { sd in
            if let cmn = config.onlineCMN, cmn.enabled {
                let w = cmn.weight(frame: t)
                for j in 0..<f {
                    m[j] += w * (x[j] - m[j])
                    x[j] = (x[j] - m[j]) / sd[j]
                }
            } else {
                featureMean.withUnsafeBufferPointer { mu in for j in 0..<f { x[j] = (x[j] - mu[j]) / sd[j] } }
            }
        }
    }

    /// Feature norm → conv1 → GELU → conv2 → GELU for one feature frame; true when an output frame's
    /// input is ready in `s.hidden (D)` (every `s1·s2`-th frame).
    @inline(__always)
    func frontEnd(_ frame: UnsafePointer<Float>, state s: State) -> Bool {
        let f = config.nMels, d = config.dModel
        let x = s.input.pointer
        x.update(from: frame, count: f)
        normalize(x, frame: s.featureFrames, runningMean: s.runningMean.pointer)
        s.featureFrames += 1
        guard conv1.step(x, state: s.conv1, into: s.c1.pointer) else { return false }
        Activation.gelu(s.c1.pointer, count: d)
        guard conv2.step(s.c1.pointer, state: s.conv2, into: s.hidden.pointer) else { return false }
        Activation.gelu(s.hidden.pointer, count: d)
        return true
    }

    /// Feeds one feature frame `(F)`. Every `s1·s2`-th frame completes an output frame: then its logits
    /// are in `state.logits` and the call returns true. Allocates nothing.
    public func step(_ frame: UnsafePointer<Float>, state s: State) -> Bool {
        guard frontEnd(frame, state: s) else { return false }
        stepBlocks(state: s)
        return true
    }

    /// The second half of `step` for one stream whose front end just completed a frame
    /// (`stepFrontEnd` returned true): the blocks, final norm and CTC head (matrix × vector); the logits
    /// are then in `state.logits`.
    public func stepBlocks(state s: State) {
        let h = s.hidden.pointer
        stack.step(h, state: s.blocks)
        normF(h, into: s.normed.pointer)
        head(s.normed.pointer, into: s.logits.pointer)
        s.didEmit()
    }
}

// MARK: Many streams at once

extension Encoder {
    /// Scratch for advancing up to `maxBatch` streams together (`stepBatch`). Allocated once.
    public final class BatchScratch {
        public let maxBatch: Int
        /// (B, D) residual stream and its final normalisation.
        let hidden: FloatBuffer, normed: FloatBuffer
        /// (B, V) logits of the last output frame of each stream, row i = states[i].
        public let logits: FloatBuffer
        let blocks: BlockStack.BatchScratch
        /// The streams' block states of the current batch (rebuilt only when the batch changes).
        var blockStates: [BlockStack.State] = []

        init(_ e: Encoder, maxBatch: Int) {
            let d = e.config.dModel
            self.maxBatch = maxBatch
            hidden = FloatBuffer(count: maxBatch * d); normed = FloatBuffer(count: maxBatch * d)
            logits = FloatBuffer(count: maxBatch * e.config.vocab.count)
            blocks = e.stack.makeBatchScratch(maxRows: maxBatch)
        }

        func bind(_ states: [Encoder.State]) {
            // Compared in place (mapping to a new array here would allocate on every output frame), by
            // the block states themselves, which this scratch retains: an identifier of a freed state
            // could be reused by a new one.
            if states.count == blockStates.count && zip(states, blockStates).allSatisfy({ $0.blocks === $1 }) { return }
            blockStates = states.map(\.blocks)
        }
    }

    public func makeBatchScratch(maxBatch: Int) -> BatchScratch { BatchScratch(self, maxBatch: maxBatch) }

    /// Advances B streams by one feature frame each, `frames (B, F)`, the streams in lock-step (same
    /// number of frames seen). The convolutional front end runs per stream; every weight matrix of the
    /// blocks and the head is applied to all B streams at once (SGEMM instead of B SGEMVs), which is what
    /// lets one core carry many streams. Returns true when an output frame is complete; the logits are
    /// then rows of `scratch.logits (B, V)`. Same results as `step` per stream. Allocates nothing once
    /// the batch's states are bound.
    public func stepBatch(_ frames: UnsafePointer<Float>, states: [State], scratch sc: BatchScratch) -> Bool {
        let b = states.count, f = config.nMels
        precondition(b >= 1 && b <= sc.maxBatch, "batch of \(b) streams; scratch holds \(sc.maxBatch)")
        var ready = 0
        for (i, s) in states.enumerated() where frontEnd(frames + i * f, state: s) { ready += 1 }
        guard ready > 0 else { return false }
        precondition(ready == b, "stepBatch needs streams in lock-step (\(ready) of \(b) completed a frame)")
        stepBlocksBatch(states: states, scratch: sc)
        return true
    }

    /// The per-stream half of a step: feeds one feature frame `(F)` to the stream's convolutional front
    /// end. True when it completed an output frame's input (every `s1·s2`-th frame); then call
    /// `stepBlocksBatch` with this state among the batch before feeding it another frame. Streams need
    /// not be in lock-step: a server collects whichever streams are ready and steps them together.
    public func stepFrontEnd(_ frame: UnsafePointer<Float>, state s: State) -> Bool {
        frontEnd(frame, state: s)
    }

    /// The batched half of a step: the blocks, final norm and CTC head for B streams whose front ends
    /// have each just completed a frame (`stepFrontEnd` returned true). Row i of `scratch.logits (B, V)`
    /// is then stream `states[i]`'s output frame. Same results as `step` per stream, up to the rounding
    /// of a matrix product over B rows instead of one.
    public func stepBlocksBatch(states: [State], scratch sc: BatchScratch) {
        let b = states.count, d = config.dModel
        precondition(b >= 1 && b <= sc.maxBatch, "batch of \(b) streams; scratch holds \(sc.maxBatch)")
        for (i, s) in states.enumerated() { (sc.hidden.pointer + i * d).update(from: s.hidden.pointer, count: d) }
        sc.bind(states)
        let h = sc.hidden.pointer, normed = sc.normed.pointer
        stack.stepBatch(h, states: sc.blockStates, scratch: sc.blocks)
        for i in 0..<b { normF(h + i * d, into: normed + i * d) }
        head(normed, rows: b, into: sc.logits.pointer)
        for s in states { s.didEmit() }
    }
}
