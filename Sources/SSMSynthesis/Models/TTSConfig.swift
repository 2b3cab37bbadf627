import Foundation
import SSMLayers
import SSMModels
import SSMTensor

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

    /// Reads and validates the voice's `config.json` at `path`.
    public static func load(path: String) throws -> TTSConfig {
        let data: Data
        do { data = try InputFile.read(path) } catch let e as InputFile.Problem {
            throw SynthesisError.cannotRead(path: path, reason: e.reason)
        }
        return try parse(data, path: path)
    }

    /// Decodes and validates voice config JSON; `path` names the file in errors.
    public static func parse(_ data: Data, path: String = "<config>") throws -> TTSConfig {
        let c: TTSConfig
        do { c = try JSONDecoder().decode(TTSConfig.self, from: data) } catch {
            throw SynthesisError.invalidConfig(path: path, reason: "\(error)")
        }
        try c.validate(path: path)
        return c
    }

    /// Output sample rates a voice may declare: those the audio side accepts (`AudioLimits.sampleRates`,
    /// 8 kHz … 768 kHz), so that a voice of 0 Hz or 1e12 Hz fails here, naming the voice, rather than
    /// in the WAV writer.
    public static let sampleRates: ClosedRange<Int> = 8_000...768_000
    /// FFT sizes of the vocoder's inverse STFT.
    public static let fftSizes: ClosedRange<Int> = 2...65_536
    /// Mel bins.
    public static let melBins: ClosedRange<Int> = 1...1_024
    /// `mel_floor`: the log of it is the silence the vocoder is primed with, so it must be positive.
    public static let melFloors: ClosedRange<Double> = 1e-20...1
    /// `vocoder.max_log_magnitude`: exp of it bounds each STFT bin (exp(88) overflows Float32).
    public static let maxLogMagnitudes: ClosedRange<Float> = -20...20

    /// Checks every field against its range (`SizeLimits` for the model sizes); the error names the
    /// file and the field (`acoustic.enc_layers must be at most 256, got 1000000000000`).
    public func validate(path: String = "<config>") throws {
        func bad(_ r: String) -> SynthesisError { .invalidConfig(path: path, reason: r) }
        guard format == "ssmspeech-tts-v1" else { throw bad("unknown format '\(format)'") }
        let L = SizeLimits.self, R = RangeCheck.self, a = acoustic, v = vocoder
        let problems: [String?] = [
            R.problem("audio.sample_rate", audio.sampleRate, Self.sampleRates),
            R.problem("audio.n_fft", audio.nFFT, Self.fftSizes),
            R.problem("audio.hop", audio.hop, 1...max(1, audio.nFFT)),
            R.problem("audio.n_mels", audio.nMels, Self.melBins),
            R.problem("audio.f_min", audio.fMin, 0...max(0, Double(audio.sampleRate) / 2)),
            R.problem("audio.f_max", audio.fMax, 0...max(0, Double(audio.sampleRate) / 2)),
            R.problem("audio.mel_floor", audio.melFloor, Self.melFloors),
            R.problem("acoustic.d_model", a.dModel, L.width),
            R.problem("acoustic.enc_layers", a.encLayers, L.layers),
            R.problem("acoustic.enc_kernel", a.encKernel, L.kernel),
            R.problem("acoustic.dur_layers", a.durLayers, L.layers),
            R.problem("acoustic.dur_kernel", a.durKernel, L.kernel),
            R.problem("acoustic.dec_d_model", a.decDModel, L.width),
            R.problem("acoustic.dec_layers", a.decLayers, L.layers),
            R.problem("acoustic.dec_ffn_mult", a.decFFNMult, L.ffnMult),
            SizeLimits.problem(s4d: a.s4d, mamba: a.mamba, prefix: "acoustic."),
            R.problem("vocoder.dim", v.dim, L.width),
            R.problem("vocoder.intermediate", v.intermediate, L.width),
            R.problem("vocoder.layers", v.layers, L.layers),
            R.problem("vocoder.kernel", v.kernel, L.kernel),
            R.problem("vocoder.max_log_magnitude", v.maxLogMagnitude, Self.maxLogMagnitudes),
            R.problem("vocab size", vocab.count, L.vocabulary),
        ]
        if let problem = problems.lazy.compactMap({ $0 }).first { throw bad(problem) }
        guard audio.nFFT % audio.hop == 0 else { throw bad("audio: n_fft must be a multiple of hop") }
        // The recognizer's Mamba/attention hybrid has no voice recipe (and a voice config no `hybrid` section).
        guard a.decMixer != .hybrid else { throw bad("acoustic.dec_mixer 'hybrid' is not supported for voices") }
        guard audio.fMin < audio.fMax else { throw bad("audio: f_min must be below f_max") }
        guard a.encKernel % 2 == 1, a.durKernel % 2 == 1 else { throw bad("acoustic: kernels must be odd") }
        guard vocab.contains("^"), vocab.contains("$") else { throw bad("vocab lacks '^' or '$'") }
    }
}
