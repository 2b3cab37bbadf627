import Foundation
import SSMLayers
import SSMModels

/// The `config.json` of a voice folder (beside `acoustic.safetensors` and `vocoder.safetensors`);
/// written by `Training/tts/export.py` from the PyTorch `TTSConfig`, same field names.
public struct TTSConfig: Codable, Sendable, Equatable {
    public struct Audio: Codable, Sendable, Equatable {
        public var sample_rate: Int
        /// FFT size and window length of the vocoder's inverse STFT (periodic Hann).
        public var n_fft: Int
        /// Samples per mel frame.
        public var hop: Int
        public var n_mels: Int
        public var f_min: Double
        public var f_max: Double
        public var mel_floor: Double
        public var nFreqs: Int { n_fft / 2 + 1 }
    }

    public struct Acoustic: Codable, Sendable, Equatable {
        public var d_model: Int
        public var enc_layers: Int
        public var enc_kernel: Int
        public var dur_layers: Int
        public var dur_kernel: Int
        public var dec_d_model: Int
        public var dec_layers: Int
        public var dec_mixer: EncoderConfig.MixerKind
        public var dec_ffn_mult: Int
        public var s4d: S4D.Config?
        public var mamba: Mamba.Config?
    }

    public struct Vocoder: Codable, Sendable, Equatable {
        public var dim: Int
        public var intermediate: Int
        public var layers: Int
        public var kernel: Int
        public var max_log_magnitude: Float
    }

    public var format: String
    /// Name of the voice and where its training audio came from.
    public var voice: String
    public var source: String
    /// Phoneme tokens: one Unicode scalar each; `_` pad, `^` start, `$` end.
    public var vocab: [String]
    public var espeak_voice: String
    public var audio: Audio
    public var acoustic: Acoustic
    public var vocoder: Vocoder

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
        guard audio.hop > 0, audio.n_fft >= audio.hop, audio.n_fft % audio.hop == 0, audio.n_mels > 0 else {
            throw bad("audio: n_fft must be a positive multiple of hop")
        }
        let a = acoustic, v = vocoder
        guard a.d_model > 0, a.enc_layers >= 0, a.enc_kernel % 2 == 1, a.dur_kernel % 2 == 1, a.dec_d_model > 0,
              a.dec_layers >= 0, a.dec_ffn_mult >= 0 else { throw bad("acoustic: sizes must be positive, kernels odd") }
        guard v.dim > 0, v.intermediate > 0, v.layers >= 0, v.kernel > 0 else { throw bad("vocoder: sizes must be positive") }
        guard vocab.contains("^"), vocab.contains("$") else { throw bad("vocab lacks '^' or '$'") }
    }
}
