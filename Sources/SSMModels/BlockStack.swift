import Foundation
import SSMLayers
import SSMTensor

/// One residual block: `x += mixer(norm(x))`, then optionally `x += ffn(ffn_norm(x))`.
/// Checkpoint names (PyTorch `ssmspeech_ref.encoder.Block`): `norm.*`, `mixer.*`, `ffn_norm.*`,
/// `ffn.fc1.*`, `ffn.fc2.*`.
struct SSMBlock {
    enum Mixer {
        case s4d(S4D)
        case mamba(Mamba)
    }
    let norm: Norm
    let mixer: Mixer
    let ffnNorm: Norm?
    /// fc1 (M, D), fc2 (D, M) with M = ffn_mult · D.
    let fc1: Linear?
    let fc2: Linear?
}

/// A stack of residual SSM blocks of width D, run over a whole sequence (`forward`) or one frame at a
/// time (`step`, recurrent mode) with the same results. The recognizer's encoder and the synthesizer's
/// decoder are both built on it.
public final class BlockStack {
    public struct Config: Sendable, Equatable {
        public var mixer: EncoderConfig.MixerKind
        public var dModel: Int
        public var layers: Int
        public var norm: NormKind
        public var ffnMult: Int
        public var s4d: S4D.Config?
        public var mamba: Mamba.Config?

        public init(mixer: EncoderConfig.MixerKind, dModel: Int, layers: Int, norm: NormKind, ffnMult: Int,
                    s4d: S4D.Config?, mamba: Mamba.Config?) {
            self.mixer = mixer; self.dModel = dModel; self.layers = layers; self.norm = norm
            self.ffnMult = ffnMult; self.s4d = s4d; self.mamba = mamba
        }
    }

    public let config: Config
    let blocks: [SSMBlock]

    /// Binds `<prefix>.<i>.…` for i in 0..<layers (e.g. `layers.3.mixer.D`).
    public init(_ w: ScopedWeights, config c: Config) throws {
        self.config = c
        let d = c.dModel, m = c.ffnMult * c.dModel
        blocks = try (0..<c.layers).map { i in
            let lw = w.scoped("\(i)")
            let mixer: SSMBlock.Mixer
            switch c.mixer {
            case .s4d: mixer = .s4d(try S4D(lw.scoped("mixer"), dModel: d, config: c.s4d ?? S4D.Config()))
            case .mamba: mixer = .mamba(try Mamba(lw.scoped("mixer"), dModel: d, config: c.mamba ?? Mamba.Config()))
            }
            return SSMBlock(
                norm: try Norm(lw.scoped("norm"), kind: c.norm, dim: d),
                mixer: mixer,
                ffnNorm: m > 0 ? try Norm(lw.scoped("ffn_norm"), kind: c.norm, dim: d) : nil,
                fc1: m > 0 ? try Linear(lw.scoped("ffn.fc1"), inFeatures: d, outFeatures: m, bias: true) : nil,
                fc2: m > 0 ? try Linear(lw.scoped("ffn.fc2"), inFeatures: m, outFeatures: d, bias: true) : nil)
        }
    }

    // MARK: Parallel mode

    /// `(L, D)` → `(L, D)` over a whole sequence from the zero state.
    public func forward(_ x: Matrix) -> Matrix {
        var h = x
        for b in blocks {
            let n = b.norm(h)
            let m: Matrix
            switch b.mixer {
            case .s4d(let s): m = s.forward(n)
            case .mamba(let s): m = s.forward(n)
            }
            for i in 0..<h.data.count { h.data[i] += m.data[i] }
            if let fn = b.ffnNorm, let fc1 = b.fc1, let fc2 = b.fc2 {
                var a = fc1(fn(h))
                Activation.gelu(&a)
                let o = fc2(a)
                for i in 0..<h.data.count { h.data[i] += o.data[i] }
            }
        }
        return h
    }

    // MARK: Recurrent mode

    /// The recurrent state of every block of one stream, plus preallocated scratch.
    public final class State {
        enum MixerState { case s4d(S4D.State), mamba(Mamba.State) }
        let mixers: [MixerState]
        /// (D) normalised block input and mixer / FFN output.
        let normed: FloatBuffer, mixed: FloatBuffer
        /// (M) FFN hidden.
        let ffn: FloatBuffer

        init(_ s: BlockStack) {
            let d = s.config.dModel
            mixers = s.blocks.map {
                switch $0.mixer {
                case .s4d(let l): return .s4d(l.makeState())
                case .mamba(let l): return .mamba(l.makeState())
                }
            }
            normed = FloatBuffer(count: d); mixed = FloatBuffer(count: d)
            ffn = FloatBuffer(count: max(1, s.config.ffnMult * d))
        }

        /// Back to the zero state (start of a new stream).
        public func reset() {
            for m in mixers {
                switch m {
                case .s4d(let s): s.reset()
                case .mamba(let s): s.reset()
                }
            }
        }
    }

    public func makeState() -> State { State(self) }

    /// Advances every block by one frame: `h (D)` is read and overwritten with the stack's output.
    /// Allocates nothing.
    public func step(_ h: UnsafeMutablePointer<Float>, state s: State) {
        let d = config.dModel
        for (i, b) in blocks.enumerated() {
            b.norm(h, into: s.normed.pointer)
            switch (b.mixer, s.mixers[i]) {
            case let (.s4d(layer), .s4d(st)): layer.step(s.normed.pointer, state: st, into: s.mixed.pointer)
            case let (.mamba(layer), .mamba(st)): layer.step(s.normed.pointer, state: st, into: s.mixed.pointer)
            default: preconditionFailure("block state does not match its layers")
            }
            for j in 0..<d { h[j] += s.mixed[j] }
            if let fn = b.ffnNorm, let fc1 = b.fc1, let fc2 = b.fc2 {
                fn(h, into: s.normed.pointer)
                fc1(s.normed.pointer, into: s.ffn.pointer)
                Activation.gelu(s.ffn.pointer, count: fc1.outFeatures)
                fc2(s.ffn.pointer, into: s.mixed.pointer)
                for j in 0..<d { h[j] += s.mixed[j] }
            }
        }
    }

    // MARK: Several rows at once: many streams, or several frames of one stream

    /// Buffers for `stepBatch`, for up to `maxRows` rows. Allocated once.
    public final class BatchScratch {
        public let maxRows: Int
        /// (R, D) normalised rows and mixer / FFN outputs; (R, M) FFN hidden.
        let normed: FloatBuffer, mixed: FloatBuffer, ffn: FloatBuffer
        enum MixerScratch { case s4d(S4D.BatchScratch), mamba(Mamba.BatchScratch) }
        let mixer: MixerScratch?
        /// Per block, the mixer states of the bound rows (rebuilt only when the rows' states change).
        var bound: [ObjectIdentifier] = []
        var s4dStates: [[S4D.State]] = [], mambaStates: [[Mamba.State]] = []

        init(_ s: BlockStack, maxRows: Int) {
            self.maxRows = maxRows
            let d = s.config.dModel
            normed = FloatBuffer(count: maxRows * d); mixed = FloatBuffer(count: maxRows * d)
            ffn = FloatBuffer(count: maxRows * max(1, s.config.ffnMult * d))
            switch s.blocks.first?.mixer {
            case .s4d(let l)?: mixer = .s4d(l.makeBatchScratch(maxBatch: maxRows))
            case .mamba(let l)?: mixer = .mamba(l.makeBatchScratch(maxBatch: maxRows))
            case nil: mixer = nil
            }
        }

        func bind(_ states: [State]) {
            // Compared in place: mapping to a new array here would allocate on every call.
            if states.count == bound.count && zip(states, bound).allSatisfy({ ObjectIdentifier($0) == $1 }) { return }
            bound = states.map(ObjectIdentifier.init)
            let blocks = states.first?.mixers.count ?? 0
            s4dStates = (0..<blocks).map { i in states.compactMap { if case .s4d(let s) = $0.mixers[i] { return s }; return nil } }
            mambaStates = (0..<blocks).map { i in states.compactMap { if case .mamba(let s) = $0.mixers[i] { return s }; return nil } }
        }
    }

    public func makeBatchScratch(maxRows: Int) -> BatchScratch { BatchScratch(self, maxRows: maxRows) }

    /// Advances row r of `h (R, D)` (read and overwritten) on `states[r]`: every weight matrix is applied
    /// to all rows at once (SGEMM instead of R SGEMVs), the recurrences run row after row, in order.
    /// Rows may be independent streams (the encoder's many-stream step), or the same state repeated for
    /// consecutive frames of one stream whose inputs are known in advance (the synthesizer's decoder:
    /// row r then sees the state left by row r − 1). Equal to `step` row by row. Allocates nothing once
    /// the rows' states are bound (the same states as the previous call).
    public func stepBatch(_ h: UnsafeMutablePointer<Float>, states: [State], scratch sc: BatchScratch) {
        let d = config.dModel, rows = states.count
        precondition(rows >= 1 && rows <= sc.maxRows, "\(rows) rows; scratch holds \(sc.maxRows)")
        sc.bind(states)
        let normed = sc.normed.pointer, mixed = sc.mixed.pointer
        for (k, b) in blocks.enumerated() {
            for r in 0..<rows { b.norm(h + r * d, into: normed + r * d) }
            switch (b.mixer, sc.mixer) {
            case let (.s4d(layer), .s4d(ms)?): layer.stepBatch(normed, states: sc.s4dStates[k], scratch: ms, into: mixed)
            case let (.mamba(layer), .mamba(ms)?): layer.stepBatch(normed, states: sc.mambaStates[k], scratch: ms, into: mixed)
            default: preconditionFailure("batch scratch does not match the blocks")
            }
            for j in 0..<(rows * d) { h[j] += mixed[j] }
            if let fn = b.ffnNorm, let fc1 = b.fc1, let fc2 = b.fc2 {
                for r in 0..<rows { fn(h + r * d, into: normed + r * d) }
                fc1(normed, rows: rows, into: sc.ffn.pointer)
                Activation.gelu(sc.ffn.pointer, count: rows * fc1.outFeatures)
                fc2(sc.ffn.pointer, rows: rows, into: mixed)
                for j in 0..<(rows * d) { h[j] += mixed[j] }
            }
        }
    }
}
