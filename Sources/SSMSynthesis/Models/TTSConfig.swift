import Foundation
import SSMLayers
import SSMModels

/// The `config.json` of a voice folder (beside `acoustic.safetensors` and `vocoder.safetensors`);
/// written by `Training/tts/export.py` from the PyTorch `TTSConfig`. The file's keys are the PyTorch field
/// names (snake_case, in `CodingKeys`); the Swift names are their camelCase forms.
public struct TTSConfig: Codable, Sendable, Equatable {
    public struct Audio: Codable, Sendable, Equatable {
        public var sampleRate: Int
        /// FFT size and window length of the vocoder's inverse STFT (periodic Hann; `n_fft`).
        public var nFFT: Int
        /// Samples per mel frame.
        public var hop: Int
        public var nMels: Int
        public var fMin: Double
        public var fMax: Double
        public var melFloor: Double
        public var nFreqs: Int { nFFT / 2 + 1 }

        enum CodingKeys: String, CodingKey {
            case sampleRate = "sample_rate", nFFT = "n_fft", hop, nMels = "n_mels", fMin = "f_min", fMax = "f_max"
            case melFloor = "mel_floor"
        }
    }

    public struct Acoustic: Codable, Sendable, Equatable {
        public var dModel: Int
        public var encLayers: Int
        public var encKernel: Int
        public var durLayers: Int
        public var durKernel: Int
        public var decDModel: Int
        public var decLayers: Int
        public var decMixer: EncoderConfig.MixerKind
        public var decFFNMult: Int
        public var s4d: S4D.Config?
        public var mamba: Mamba.Config?

        enum CodingKeys: String, CodingKey {
            case dModel = "d_model", encLayers = "enc_layers", encKernel = "enc_kernel", durLayers = "dur_layers"
            case durKernel = "dur_kernel", decDModel = "dec_d_model", decLayers = "dec_layers", decMixer = "dec_mixer"
            case decFFNMult = "dec_ffn_mult", s4d, mamba
        }
    }

    public struct Vocoder: Codable, Sendable, Equatable {
        public var dim: Int
        public var intermediate: Int
        public var layers: Int
        public var kernel: Int
        public var maxLogMagnitude: Float

        enum CodingKeys: String, CodingKey {
            case dim, intermediate, layers, kernel, maxLogMagnitude = "max_log_magnitude"
        }
    }

    public var format: String
    /// Name of the voice and where its training audio came from.
    public var voice: String
    public var source: String
    /// Phoneme tokens: one Unicode scalar each; `_` pad, `^` start, `$` end.
    public var vocab: [String]
    public var espeakVoice: String
    public var audio: Audio
    public var acoustic: Acoustic
    public var vocoder: Vocoder

    enum CodingKeys: String, CodingKey {
        case format, voice, source, vocab, espeakVoice = "espeak_voice", audio, acoustic, vocoder
    }

    public static func load(path: String) throws -> TTSConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SynthesisError.cannotRead(path: path, reason: (error as NSError).localizedDescription)
        }
        let c: TTSConfig
        do { c = try JSONDecoder().decode(TTSConfig.self, from: data) } catch {
            throw SynthesisError.invalidConfig(path: path, reason: "\(error)")
        }
        try c.validate(path: path)
        return c
    }

    public func validate(path: String = "<config>") throws {
        func bad(_ r: String) -> SynthesisError { .invalidConfig(path: path, reason: r) }
        guard format == "ssmspeech-tts-v1" else { throw bad("unknown format '\(format)'") }
        guard audio.hop > 0, audio.nFFT >= audio.hop, audio.nFFT % audio.hop == 0, audio.nMels > 0 else {
            throw bad("audio: n_fft must be a positive multiple of hop")
        }
        let a = acoustic, v = vocoder
        guard a.dModel > 0, a.encLayers >= 0, a.encKernel % 2 == 1, a.durKernel % 2 == 1, a.decDModel > 0,
              a.decLayers >= 0, a.decFFNMult >= 0 else { throw bad("acoustic: sizes must be positive, kernels odd") }
        guard v.dim > 0, v.intermediate > 0, v.layers >= 0, v.kernel > 0 else { throw bad("vocoder: sizes must be positive") }
        guard vocab.contains("^"), vocab.contains("$") else { throw bad("vocab lacks '^' or '$'") }
    }
}
