import Foundation
import SSMFeatures
import SSMLayers
import SSMTensor

/// The JSON config shipped beside `model.safetensors` (see Docs/ARCHITECTURE.md, "Encoder specification").
/// Swift names are camelCase; the file's keys are the snake_case names of `CodingKeys`.
public struct EncoderConfig: Codable, Sendable, Equatable {
    /// The blocks' mixer: one kind for every block, or `hybrid`, Mamba blocks with a sliding-window
    /// attention block every `hybrid.attn_every` blocks (Jamba-style).
    public enum MixerKind: String, Codable, Sendable { case s4d, mamba, mamba2, s5, hybrid }

    public var format: String = "ssmspeech-encoder-v1"
    public var mixer: MixerKind
    /// D (`d_model`)
    public var dModel: Int
    /// Number of residual blocks (`n_layers`).
    public var layers: Int
    public var norm: NormKind
    /// Width multiplier of the per-block feed-forward network (`ffn_mult`); 0 means no FFN.
    public var ffnMult: Int
    /// F mel bins (`n_mels`).
    public var nMels: Int
    /// K of both front-end convolutions (`subsample_kernel`).
    public var subsampleKernel: Int
    /// Strides `[s1, s2]` of the two front-end convolutions (`subsample_strides`); absent means `[2, 2]`
    /// (40 ms output frames).
    public var subsampleStrides: [Int]?
    public var s4d: S4D.Config?
    public var mamba: Mamba.Config?
    public var mamba2: Mamba2.Config?
    public var s5: S5.Config?
    /// The hybrid stack's attention blocks (its Mamba blocks read `mamba`).
    public var hybrid: HybridConfig?
    /// Online mean normalisation of the features (`online_cmn`); absent: the global mean only.
    public var onlineCMN: OnlineCMNConfig?
    /// CTC output symbols; index 0 is the blank.
    public var vocab: [String]
    public var features: String

    enum CodingKeys: String, CodingKey {
        case format, mixer, dModel = "d_model", layers = "n_layers", norm, ffnMult = "ffn_mult", nMels = "n_mels"
        case subsampleKernel = "subsample_kernel", subsampleStrides = "subsample_strides", s4d, mamba, mamba2, s5, hybrid, vocab, features
        case onlineCMN = "online_cmn"
    }

    public init(mixer: MixerKind, dModel: Int, layers: Int, norm: NormKind, ffnMult: Int = 0, nMels: Int = 80,
                subsampleKernel: Int = 3, subsampleStrides: [Int]? = nil, s4d: S4D.Config? = nil,
                mamba: Mamba.Config? = nil, mamba2: Mamba2.Config? = nil, s5: S5.Config? = nil, hybrid: HybridConfig? = nil,
                onlineCMN: OnlineCMNConfig? = nil, vocab: [String], features: String = "logmel-v1") {
        self.mixer = mixer; self.dModel = dModel; self.layers = layers; self.norm = norm
        self.ffnMult = ffnMult; self.nMels = nMels; self.subsampleKernel = subsampleKernel
        self.subsampleStrides = subsampleStrides
        self.s4d = s4d; self.mamba = mamba; self.mamba2 = mamba2; self.s5 = s5; self.hybrid = hybrid; self.vocab = vocab; self.features = features
        self.onlineCMN = onlineCMN
    }

    /// The two front-end strides, `[2, 2]` when the config does not say.
    public var strides: [Int] { subsampleStrides ?? [2, 2] }

    /// Feature frames (10 ms each) per encoder output frame: `s1 · s2`.
    public var subsampling: Int { strides[0] * strides[1] }

    /// Reads and validates the `config.json` at `path`.
    public static func load(path: String) throws -> EncoderConfig {
        let data: Data
        do { data = try InputFile.read(path) } catch let e as InputFile.Problem {
            throw ModelError.cannotRead(path: path, reason: e.reason)
        }
        return try parse(data, path: path)
    }

    /// Decodes and validates config JSON; `path` names the file in errors.
    public static func parse(_ data: Data, path: String = "<config>") throws -> EncoderConfig {
        let config: EncoderConfig
        do { config = try JSONDecoder().decode(EncoderConfig.self, from: data) } catch {
            throw ModelError.invalidConfig(path: path, reason: "\(error)")
        }
        try config.validate(path: path)
        return config
    }

    /// Checks every field against its range (`SizeLimits`); the error names the file and the field.
    public func validate(path: String = "<config>") throws {
        func bad(_ r: String) -> ModelError { .invalidConfig(path: path, reason: r) }
        guard format == "ssmspeech-encoder-v1" else { throw bad("unknown format '\(format)'") }
        guard features == "logmel-v1" else { throw bad("unknown feature spec '\(features)'") }
        let melBins = FeatureConfig.logmelV1.melBins
        guard nMels == melBins else { throw bad("n_mels must be \(melBins) for features logmel-v1, got \(nMels)") }
        let L = SizeLimits.self
        if let p = RangeCheck.problem("d_model", dModel, L.width) ?? RangeCheck.problem("n_layers", layers, L.layers)
            ?? RangeCheck.problem("ffn_mult", ffnMult, L.ffnMult) ?? RangeCheck.problem("subsample_kernel", subsampleKernel, L.kernel)
            ?? RangeCheck.problem("vocab size", vocab.count, L.vocabulary) {
            throw bad(p)
        }
        guard strides.count == 2, strides.allSatisfy({ L.stride.contains($0) }) else {
            throw bad("subsample_strides must be two integers \(RangeCheck.describe(L.stride)), got \(strides)")
        }
        switch mixer {
        case .s4d: guard s4d != nil else { throw bad("mixer is s4d but the 's4d' section is missing") }
        case .mamba: guard mamba != nil else { throw bad("mixer is mamba but the 'mamba' section is missing") }
        case .mamba2: guard mamba2 != nil else { throw bad("mixer is mamba2 but the 'mamba2' section is missing") }
        case .s5: guard s5 != nil else { throw bad("mixer is s5 but the 's5' section is missing") }
        case .hybrid:
            guard mamba != nil, hybrid != nil else { throw bad("mixer is hybrid but the 'mamba' or 'hybrid' section is missing") }
        }
        if let p = SizeLimits.problem(s4d: s4d, mamba: mamba, mamba2: mamba2, s5: s5, hybrid: hybrid) { throw bad(p) }
        if mixer == .hybrid, let h = hybrid, dModel % h.heads != 0 { // (n_heads ≥ 1 checked above)
            throw bad("hybrid.n_heads (\(h.heads)) must divide d_model (\(dModel))")
        }
        if let c = onlineCMN, let p = c.problem { throw bad(p) }
    }
}

/// Largest sizes a model or voice config may ask for. Far above any model here (widths ≤ 256, ≤ 6
/// layers), they keep a corrupt config from allocating without bound before its weights are checked
/// (a layer count of 1e12 used to abort reserving the layer array). Used by `EncoderConfig` and the
/// synthesis module's `TTSConfig`.
public enum SizeLimits {
    /// Model widths: d_model, channels, hidden sizes.
    public static let width: ClosedRange<Int> = 1...16_384
    /// Blocks or layers in a stack.
    public static let layers: ClosedRange<Int> = 0...256
    /// Convolution kernel widths.
    public static let kernel: ClosedRange<Int> = 1...1_024
    /// Feed-forward width multipliers (0: no FFN), Mamba's `expand`.
    public static let ffnMult: ClosedRange<Int> = 0...16
    public static let expand: ClosedRange<Int> = 1...16
    /// Subsampling strides.
    public static let stride: ClosedRange<Int> = 1...16
    /// Output or phoneme vocabulary entries.
    public static let vocabulary: ClosedRange<Int> = 2...65_536
    /// SSM state sizes (S4D's N, Mamba's d_state).
    public static let state: ClosedRange<Int> = 1...4_096
    /// Mamba's depthwise convolution width.
    public static let mambaConv: ClosedRange<Int> = 1...64

    /// Mamba-2's head width and group count; attention heads.
    public static let heads: ClosedRange<Int> = 1...4_096
    /// Frames an attention block looks back over. Its cache holds this many keys and values per stream
    /// (allocated with each stream, whatever the weights), so the bound is tight: 4 096 frames are 2 min
    /// at 30 ms, 8 MB per attention block of width 256.
    public static let window: ClosedRange<Int> = 1...4_096

    /// The first problem with the mixer sections `s4d` / `mamba` / `mamba2` / `s5` / `hybrid` (their
    /// JSON field names), or nil.
    public static func problem(s4d: S4D.Config?, mamba: Mamba.Config?, mamba2: Mamba2.Config? = nil, s5: S5.Config? = nil,
                               hybrid: HybridConfig? = nil, prefix: String = "") -> String? {
        if let s = s4d, let p = RangeCheck.problem("\(prefix)s4d.d_state", s.dState, 2...state.upperBound) { return p }
        if let m = mamba {
            if let p = RangeCheck.problem("\(prefix)mamba.d_state", m.dState, state)
                ?? RangeCheck.problem("\(prefix)mamba.d_conv", m.dConv, mambaConv)
                ?? RangeCheck.problem("\(prefix)mamba.expand", m.expand, expand) { return p }
            if let r = m.dtRank, let p = RangeCheck.problem("\(prefix)mamba.dt_rank", r, width) { return p }
        }
        if let m = mamba2, let p = RangeCheck.problem("\(prefix)mamba2.d_state", m.dState, state)
            ?? RangeCheck.problem("\(prefix)mamba2.d_conv", m.dConv, mambaConv)
            ?? RangeCheck.problem("\(prefix)mamba2.expand", m.expand, expand)
            ?? RangeCheck.problem("\(prefix)mamba2.headdim", m.headdim, heads)
            ?? RangeCheck.problem("\(prefix)mamba2.ngroups", m.ngroups, heads) { return p }
        if let s = s5, let p = RangeCheck.problem("\(prefix)s5.d_state", s.dState, 2...state.upperBound) { return p }
        if let h = hybrid, let p = RangeCheck.problem("\(prefix)hybrid.attn_every", h.attnEvery, layers.lowerBound + 1...layers.upperBound)
            ?? RangeCheck.problem("\(prefix)hybrid.n_heads", h.heads, heads)
            ?? RangeCheck.problem("\(prefix)hybrid.window", h.window, window) { return p }
        return nil
    }
}

/// Errors of the models module.
public enum ModelError: Error, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case weights(path: String, WeightError)
    case modelNotFound(String, searched: [String])

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "cannot read model file '\(path)': \(reason)"
        case let .invalidConfig(path, reason): return "invalid model config '\(path)': \(reason)"
        case let .weights(path, e):
            // Header and read errors already name the file.
            return e.description.contains(path) ? e.description : "model weights '\(path)': \(e.description)"
        case let .modelNotFound(name, searched):
            return "no model '\(name)' found (looked in \(searched.joined(separator: ", "))); pass --model NAME|PATH to a folder with config.json and model.safetensors"
        }
    }
}

/// The `hybrid` section: a Jamba-style stack of Mamba blocks (config section `mamba`) in which block i
/// (0-based) is instead a causal sliding-window attention block when `(i + 1) % attn_every == 0`.
public struct HybridConfig: Codable, Sendable, Equatable {
    /// An attention block every this many blocks (`attn_every`).
    public var attnEvery: Int
    /// Attention heads (`n_heads`), dividing d_model.
    public var heads: Int
    /// Frames each frame attends to, itself included (`window`).
    public var window: Int

    public init(attnEvery: Int = 3, heads: Int = 4, window: Int = 64) {
        self.attnEvery = attnEvery; self.heads = heads; self.window = window
    }

    enum CodingKeys: String, CodingKey { case attnEvery = "attn_every", heads = "n_heads", window }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attnEvery = try c.decodeIfPresent(Int.self, forKey: .attnEvery) ?? 3
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? 4
        window = try c.decodeIfPresent(Int.self, forKey: .window) ?? 64
    }

    /// Whether block `layer` (0-based) is an attention block.
    public func isAttention(layer: Int) -> Bool { (layer + 1) % attnEvery == 0 }

    /// The attention blocks' layer config.
    public var attention: SlidingWindowAttention.Config { .init(heads: heads, window: window) }
}

/// The `online_cmn` section: the features are normalised with a causal running mean instead of the
/// global one. `m₋₁` = the global mean, `m_t = m_{t−1} + w_t (x_t − m_{t−1})` with
/// `w_t = max(1 / (priorFrames + t + 1), 1 / windowFrames)`: the mean of the frames so far plus
/// `priorFrames` frames of the global mean until that count reaches `windowFrames`, then an exponential
/// window of `windowFrames` frames (Kaldi's online CMN, `apply-cmvn-online`, with an exponential
/// instead of a sliding window). `windowFrames` 0 (and `priorFrames` 0) turns it off.
public struct OnlineCMNConfig: Codable, Sendable, Equatable {
    /// Frames of the global mean the running mean starts with (`prior_frames`).
    public var priorFrames: Int
    /// Length of the exponential window in frames (`window_frames`); 0: off.
    public var windowFrames: Int

    public init(priorFrames: Int, windowFrames: Int) {
        self.priorFrames = priorFrames; self.windowFrames = windowFrames
    }

    enum CodingKeys: String, CodingKey { case priorFrames = "prior_frames", windowFrames = "window_frames" }

    /// Absent fields are 0, as in the recipe's config.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        priorFrames = try c.decodeIfPresent(Int.self, forKey: .priorFrames) ?? 0
        windowFrames = try c.decodeIfPresent(Int.self, forKey: .windowFrames) ?? 0
    }

    public var enabled: Bool { windowFrames > 0 }

    /// Most frames either count may be (about 3 h of 10 ms frames; keeps the weights' Float exact).
    public static let maxFrames = 1_000_000

    /// What is wrong with the section, if anything.
    var problem: String? {
        if windowFrames == 0 && priorFrames == 0 { return nil }
        return RangeCheck.problem("online_cmn.prior_frames", priorFrames, 0...Self.maxFrames)
            ?? RangeCheck.problem("online_cmn.window_frames", windowFrames, 1...Self.maxFrames)
    }

    /// `w_t` of feature frame `t` (0-based) of a stream.
    @inline(__always)
    public func weight(frame t: Int) -> Float {
        max(1 / Float(priorFrames + t + 1), 1 / Float(windowFrames))
    }
}
