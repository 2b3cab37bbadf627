import Foundation
import SSMLayers
import SSMTensor

/// The JSON config shipped beside `model.safetensors` (see Docs/ARCHITECTURE.md, "Encoder specification").
/// Swift names are camelCase; the file's keys are the snake_case names of `CodingKeys`.
public struct EncoderConfig: Codable, Sendable, Equatable {
    public enum MixerKind: String, Codable, Sendable { case s4d, mamba }

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
    /// CTC output symbols; index 0 is the blank.
    public var vocab: [String]
    public var features: String

    enum CodingKeys: String, CodingKey {
        case format, mixer, dModel = "d_model", layers = "n_layers", norm, ffnMult = "ffn_mult", nMels = "n_mels"
        case subsampleKernel = "subsample_kernel", subsampleStrides = "subsample_strides", s4d, mamba, vocab, features
    }

    public init(mixer: MixerKind, dModel: Int, layers: Int, norm: NormKind, ffnMult: Int = 0, nMels: Int = 80,
                subsampleKernel: Int = 3, subsampleStrides: [Int]? = nil, s4d: S4D.Config? = nil,
                mamba: Mamba.Config? = nil, vocab: [String], features: String = "logmel-v1") {
        self.mixer = mixer; self.dModel = dModel; self.layers = layers; self.norm = norm
        self.ffnMult = ffnMult; self.nMels = nMels; self.subsampleKernel = subsampleKernel
        self.subsampleStrides = subsampleStrides
        self.s4d = s4d; self.mamba = mamba; self.vocab = vocab; self.features = features
    }

    /// The two front-end strides, `[2, 2]` when the config does not say.
    public var strides: [Int] { subsampleStrides ?? [2, 2] }

    /// Feature frames (10 ms each) per encoder output frame: `s1 · s2`.
    public var subsampling: Int { strides[0] * strides[1] }

    public static func load(path: String) throws -> EncoderConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelError.cannotRead(path: path, reason: (error as NSError).localizedDescription)
        }
        let config: EncoderConfig
        do { config = try JSONDecoder().decode(EncoderConfig.self, from: data) } catch {
            throw ModelError.invalidConfig(path: path, reason: "\(error)")
        }
        try config.validate(path: path)
        return config
    }

    public func validate(path: String = "<config>") throws {
        func bad(_ r: String) -> ModelError { .invalidConfig(path: path, reason: r) }
        guard format == "ssmspeech-encoder-v1" else { throw bad("unknown format '\(format)'") }
        guard features == "logmel-v1" else { throw bad("unknown feature spec '\(features)'") }
        guard dModel > 0, layers >= 0, nMels > 0, subsampleKernel > 0, ffnMult >= 0 else {
            throw bad("sizes must be positive")
        }
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else {
            throw bad("subsample_strides must be two positive integers, got \(strides)")
        }
        guard vocab.count >= 2 else { throw bad("vocab needs a blank and at least one symbol") }
        switch mixer {
        case .s4d: guard s4d != nil else { throw bad("mixer is s4d but the 's4d' section is missing") }
        case .mamba: guard mamba != nil else { throw bad("mixer is mamba but the 'mamba' section is missing") }
        }
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
