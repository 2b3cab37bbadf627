import SSMTensor

// Dimension letters used in shapes throughout the layers and models (the table in Docs/ARCHITECTURE.md,
// "Glossary of dimension letters"); shapes are row-major, `(L, D)` has D contiguous.
//   B  batch: streams advanced together by `stepBatch`, one state object each (or the rows of one
//      stream's chunk, the same state repeated); `BlockStack.stepBatch` calls its row count R
//   L  sequence length at the layer's own rate (after subsampling), `forward`
//   T  time steps at the feature rate (10 ms frames), before subsampling
//   D  model width (`d_model`); S4D calls it H, its channel count
//   E  Mamba inner width, `expand · D`
//   H  Mamba-2 heads (E / P), P its head width (`headdim`), G its groups sharing B and C (`ngroups`);
//      S5 keeps P/2 complex modes of one state shared by all D channels (P = its `d_state`)
//   N  SSM state size per channel (`d_state`); S4D keeps N/2 complex modes (conjugate pairs)
//   W  Mamba depthwise-convolution width (`d_conv`)
//   A  attention heads (`n_heads`) of width Dh = D / A; S the attention window (`window`, frames)
//   R  Mamba `dt_rank` (ceil(D/16) by default)
//   V  output vocabulary: CTC blank + symbols
//   F  feature width: mel bins (`n_mels`)
//   M  hidden width of a block's feed-forward network, `ffn_mult · D`
//   K  convolution kernel width; Cin, Cout a convolution's input and output channels
// The synthesizer's models use some letters differently; each of their files says so at the top.

/// The recurrent state of one stream of a `SequenceMixer` (a class, so it is advanced in place).
public protocol SequenceMixerState: AnyObject {
    /// Back to the zero state (start of a new stream).
    func reset()
}

/// A sequence-mixing layer of width D that runs in three equivalent modes: over a whole sequence
/// (`forward`, parallel mode), one frame at a time on a per-stream state (`step`, recurrent mode), and one
/// frame of each of B streams at once (`stepBatch`, matrices as SGEMMs). The three give the same results.
///
/// `BlockStack` (SSMModels) builds its residual blocks over any conforming type, binding the layer's
/// tensors under `<i>.mixer.*` (`layers.<i>.mixer.*` in an encoder). `S4D`, `Mamba`, `Mamba2`, `S5` and
/// `SlidingWindowAttention` (the hybrid stack's attention block) conform, each in its own file. A new
/// mixer kind is a conforming layer in SSMLayers, plus, in SSMModels, its case in
/// `EncoderConfig.MixerKind` with its config section (`EncoderConfig`, `BlockStack.Config`) and its line in
/// `MixerKind.makeBlocks` (Sources/SSMModels/BlockStack.swift), the one place a kind becomes a type.
public protocol SequenceMixer {
    /// The layer's section of a model config (e.g. `"s4d": {"d_state": 64}`).
    associatedtype Config
    /// Per-stream recurrent state and step scratch, allocated once per stream.
    associatedtype State: SequenceMixerState
    /// Scratch for `stepBatch`, allocated once for up to `maxBatch` streams.
    associatedtype BatchScratch: AnyObject

    /// Binds the layer's tensors under `w` (checkpoint names of the layer's reference implementation).
    init(_ w: ScopedWeights, dModel: Int, config: Config) throws

    func makeState() -> State

    /// Recurrent mode: one frame `u (D)` → `out (D)`, advancing `state`. Allocates nothing.
    func step(_ u: UnsafePointer<Float>, state: State, into out: UnsafeMutablePointer<Float>)

    func makeBatchScratch(maxBatch: Int) -> BatchScratch

    /// B streams, one frame each: `u (B, D)` → `out (B, D)`, row i on `states[i]`. Same result as `step`
    /// per row; the same state may appear in consecutive rows (then row i sees the state row i − 1 left).
    /// Allocates nothing.
    func stepBatch(_ u: UnsafePointer<Float>, states: [State], scratch: BatchScratch, into out: UnsafeMutablePointer<Float>)

    /// Parallel mode over `u (L, D)` → `(L, D)`, from `state` (advanced to the state after the last frame)
    /// or, if nil, from the zero state.
    func forward(_ u: Matrix, state: State?) -> Matrix
}
