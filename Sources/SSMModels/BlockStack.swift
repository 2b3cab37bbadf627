import Foundation
import SSMLayers
import SSMTensor

/// A stack of residual SSM blocks of width D, run over a whole sequence (`forward`) or one frame at a
/// time (`step`, recurrent mode) with the same results. The recognizer's encoder and the synthesizer's
/// decoder are both built on it.
///
/// Block i is `x += mixer(norm(x))`, then optionally `x += ffn(ffn_norm(x))`, with checkpoint names (PyTorch
/// `ssmspeech_ref.encoder.Block`) `<i>.norm.*`, `<i>.mixer.*`, `<i>.ffn_norm.*`, `<i>.ffn.fc1.*`, `<i>.ffn.fc2.*`.
/// The mixer is any `SequenceMixer` (S4D, Mamba, Mamba2, S5, SlidingWindowAttention); the config's mixer kind
/// picks the types in one place, `EncoderConfig.MixerKind.makeBlocks`. Most stacks use one mixer type in
/// every block; the hybrid stack interleaves Mamba blocks with attention blocks (`HybridConfig`). The stack
/// is kept as segments: runs of consecutive blocks of one mixer type (one segment unless hybrid).
public final class BlockStack {
    public struct Config: Sendable, Equatable {
        public var mixer: EncoderConfig.MixerKind
        public var dModel: Int
        public var layers: Int
        public var norm: NormKind
        public var ffnMult: Int
        public var s4d: S4D.Config?
        public var mamba: Mamba.Config?
        public var mamba2: Mamba2.Config?
        public var s5: S5.Config?
        /// Which blocks of a hybrid stack are attention blocks, and their heads and window.
        public var hybrid: HybridConfig?

        public init(mixer: EncoderConfig.MixerKind, dModel: Int, layers: Int, norm: NormKind, ffnMult: Int,
                    s4d: S4D.Config?, mamba: Mamba.Config?, mamba2: Mamba2.Config? = nil, s5: S5.Config? = nil,
                    hybrid: HybridConfig? = nil) {
            self.mixer = mixer; self.dModel = dModel; self.layers = layers; self.norm = norm
            self.ffnMult = ffnMult; self.s4d = s4d; self.mamba = mamba; self.mamba2 = mamba2; self.s5 = s5
            self.hybrid = hybrid
        }
    }

    public let config: Config
    /// The blocks in segments of one mixer type each (`MixerBlocks<S4D>`, `MixerBlocks<Mamba>`), in order:
    /// each method below is one dynamic call per segment; the loop over a segment's blocks then runs on the
    /// mixer's own type.
    let segments: [any BlockStackBody]

    /// Binds `<prefix>.<i>.…` for i in 0..<layers (e.g. `layers.3.mixer.D`).
    public init(_ w: ScopedWeights, config c: Config) throws {
        self.config = c
        segments = try c.mixer.makeBlocks(w, config: c)
    }

    // MARK: Parallel mode

    /// `(L, D)` → `(L, D)` over a whole sequence from the zero state.
    public func forward(_ x: Matrix) -> Matrix {
        var h = x
        for s in segments { h = s.forward(h) }
        return h
    }

    // MARK: Recurrent mode

    /// The recurrent state of every block of one stream, plus preallocated scratch.
    public final class State {
        /// Per block, its mixer's state (the `State` of that block's mixer type).
        let mixers: [any SequenceMixerState]
        /// (D) normalised block input and mixer / FFN output.
        let normed: FloatBuffer, mixed: FloatBuffer
        /// (M) FFN hidden.
        let ffn: FloatBuffer

        init(_ s: BlockStack) {
            let d = s.config.dModel
            mixers = s.segments.flatMap { $0.makeMixerStates() }
            normed = FloatBuffer(count: d); mixed = FloatBuffer(count: d)
            ffn = FloatBuffer(count: max(1, s.config.ffnMult * d))
        }

        /// Back to the zero state (start of a new stream).
        public func reset() {
            for m in mixers { m.reset() }
        }
    }

    public func makeState() -> State { State(self) }

    /// Advances every block by one frame: `h (D)` is read and overwritten with the stack's output.
    /// Allocates nothing.
    public func step(_ h: UnsafeMutablePointer<Float>, state s: State) {
        for seg in segments { seg.step(h, state: s) }
    }

    // MARK: Several rows at once: many streams, or several frames of one stream

    /// Buffers for `stepBatch`, for up to `maxRows` rows. Allocated once.
    public final class BatchScratch {
        public let maxRows: Int
        /// (R, D) normalised rows and mixer / FFN outputs; (R, M) FFN hidden.
        let normed: FloatBuffer, mixed: FloatBuffer, ffn: FloatBuffer
        /// Per segment, its mixer's batch scratch and, per block, the mixer states of the bound rows, typed
        /// by the segment's mixer (`MixerBlocks<M>.Batch`).
        let mixers: [AnyObject]
        /// The rows' states of the previous call, retained (the typed per-block states are rebuilt only
        /// when they change; an identifier alone could be reused by a new state at a freed address).
        var bound: [State] = []

        init(_ s: BlockStack, maxRows: Int) {
            self.maxRows = maxRows
            let d = s.config.dModel
            normed = FloatBuffer(count: maxRows * d); mixed = FloatBuffer(count: maxRows * d)
            ffn = FloatBuffer(count: maxRows * max(1, s.config.ffnMult * d))
            mixers = s.segments.map { $0.makeBatch(maxRows: maxRows) }
        }

        /// Whether `states` are the rows of the previous call; if not, records them and returns false.
        func rebind(_ states: [State]) -> Bool {
            // Compared in place: mapping to a new array here would allocate on every call.
            if states.count == bound.count && zip(states, bound).allSatisfy({ $0 === $1 }) { return true }
            bound = states
            return false
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
        precondition(states.count >= 1 && states.count <= sc.maxRows, "\(states.count) rows; scratch holds \(sc.maxRows)")
        let rebound = !sc.rebind(states)
        for (k, seg) in segments.enumerated() {
            seg.stepBatch(h, states: states, scratch: sc, batch: sc.mixers[k], rebound: rebound)
        }
    }
}

extension EncoderConfig.MixerKind {
    /// The one place where a mixer kind becomes layer types (and picks its config section): the stack's
    /// segments, in order.
    func makeBlocks(_ w: ScopedWeights, config c: BlockStack.Config) throws -> [any BlockStackBody] {
        let all = 0..<c.layers
        switch self {
        case .s4d: return [try MixerBlocks<S4D>(w, config: c, layers: all, mixer: c.s4d ?? S4D.Config())]
        case .mamba: return [try MixerBlocks<Mamba>(w, config: c, layers: all, mixer: c.mamba ?? Mamba.Config())]
        case .mamba2: return [try MixerBlocks<Mamba2>(w, config: c, layers: all, mixer: c.mamba2 ?? Mamba2.Config())]
        case .s5: return [try MixerBlocks<S5>(w, config: c, layers: all, mixer: c.s5 ?? S5.Config())]
        case .hybrid:
            let hc = c.hybrid ?? HybridConfig()
            guard hc.attnEvery >= 1 else { throw WeightError.invalidConfig("hybrid attn_every must be ≥ 1, got \(hc.attnEvery)") }
            var segments: [any BlockStackBody] = []
            var start = 0
            while start < c.layers {
                let attention = hc.isAttention(layer: start)
                var end = start + 1
                while end < c.layers && hc.isAttention(layer: end) == attention { end += 1 }
                segments.append(attention
                    ? try MixerBlocks<SlidingWindowAttention>(w, config: c, layers: start..<end, mixer: hc.attention)
                    : try MixerBlocks<Mamba>(w, config: c, layers: start..<end, mixer: c.mamba ?? Mamba.Config()))
                start = end
            }
            return segments
        }
    }
}

/// What `BlockStack` asks of a segment of its blocks, whatever their mixer type.
protocol BlockStackBody: AnyObject {
    func forward(_ x: Matrix) -> Matrix
    func makeMixerStates() -> [any SequenceMixerState]
    func makeBatch(maxRows: Int) -> AnyObject
    func step(_ h: UnsafeMutablePointer<Float>, state s: BlockStack.State)
    /// `batch`: this segment's entry of `sc.mixers`; `rebound`: the rows' states changed since the last call.
    func stepBatch(_ h: UnsafeMutablePointer<Float>, states: [BlockStack.State], scratch sc: BlockStack.BatchScratch,
                   batch: AnyObject, rebound: Bool)
}

/// The parts of a residual block around its mixer: `norm.*`, and if the FFN is on, `ffn_norm.*`, `ffn.fc1.*`,
/// `ffn.fc2.*` (fc1 (M, D), fc2 (D, M) with M = ffn_mult · D).
struct ResidualBlock {
    let norm: Norm
    let ffnNorm: Norm?
    let fc1: Linear?
    let fc2: Linear?
}

/// A segment of a stack, blocks `firstLayer ..< firstLayer + blocks.count`, whose mixer is `M`: `blocks[i]`
/// and `mixers[i]` make block `firstLayer + i` (its state is `State.mixers[firstLayer + i]`).
final class MixerBlocks<M: SequenceMixer>: BlockStackBody {
    let dModel: Int
    let firstLayer: Int
    let blocks: [ResidualBlock]
    let mixers: [M]

    init(_ w: ScopedWeights, config c: BlockStack.Config, layers: Range<Int>, mixer mc: M.Config) throws {
        let d = c.dModel, m = c.ffnMult * c.dModel
        dModel = d
        firstLayer = layers.lowerBound
        var blocks: [ResidualBlock] = [], mixers: [M] = []
        for i in layers {
            let lw = w.scoped("\(i)")
            mixers.append(try M(lw.scoped("mixer"), dModel: d, config: mc))
            blocks.append(ResidualBlock(
                norm: try Norm(lw.scoped("norm"), kind: c.norm, dim: d),
                ffnNorm: m > 0 ? try Norm(lw.scoped("ffn_norm"), kind: c.norm, dim: d) : nil,
                fc1: m > 0 ? try Linear(lw.scoped("ffn.fc1"), inFeatures: d, outFeatures: m, bias: true) : nil,
                fc2: m > 0 ? try Linear(lw.scoped("ffn.fc2"), inFeatures: m, outFeatures: d, bias: true) : nil))
        }
        self.blocks = blocks
        self.mixers = mixers
    }

    func forward(_ x: Matrix) -> Matrix {
        var h = x
        for (b, mixer) in zip(blocks, mixers) {
            let m = mixer.forward(b.norm(h), state: nil)
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

    func makeMixerStates() -> [any SequenceMixerState] { mixers.map { $0.makeState() } }

    func step(_ h: UnsafeMutablePointer<Float>, state s: BlockStack.State) {
        let d = dModel
        mixers.withUnsafeBufferPointer { mp in
            for (i, b) in blocks.enumerated() {
                b.norm(h, into: s.normed.pointer)
                // A state made by another stack (another mixer kind) is a programming error: trap, as before.
                guard let st = s.mixers[firstLayer + i] as? M.State else { preconditionFailure("block state does not match its layers") }
                mp[i].step(s.normed.pointer, state: st, into: s.mixed.pointer)
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
    }

    /// This segment's entry of `BlockStack.BatchScratch.mixers`.
    final class Batch {
        /// The mixer's scratch (nil for a segment of no blocks).
        let scratch: M.BatchScratch?
        /// Per block, the mixer states of the bound rows.
        var states: [[M.State]] = []
        init(_ scratch: M.BatchScratch?) { self.scratch = scratch }
    }

    func makeBatch(maxRows: Int) -> AnyObject { Batch(mixers.first?.makeBatchScratch(maxBatch: maxRows)) }

    func stepBatch(_ h: UnsafeMutablePointer<Float>, states: [BlockStack.State], scratch sc: BlockStack.BatchScratch,
                   batch: AnyObject, rebound: Bool) {
        let d = dModel, rows = states.count
        guard let batch = batch as? Batch else { preconditionFailure("batch scratch does not match the blocks") }
        if rebound || batch.states.count != mixers.count {
            batch.states = (0..<mixers.count).map { i in states.map { $0.mixers[firstLayer + i] as! M.State } }
        }
        let normed = sc.normed.pointer, mixed = sc.mixed.pointer
        mixers.withUnsafeBufferPointer { mp in
            for (k, b) in blocks.enumerated() {
                for r in 0..<rows { b.norm(h + r * d, into: normed + r * d) }
                mp[k].stepBatch(normed, states: batch.states[k], scratch: batch.scratch!, into: mixed)
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
}
