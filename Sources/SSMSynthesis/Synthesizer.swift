import Foundation
import SSMTensor

/// Text → speech, streamed: a voice folder (`VoiceFolder`: `config.json`, `acoustic.safetensors`, `vocoder.safetensors`)
/// driven utterance by utterance and frame by frame.
///
///     let tts = try Synthesizer(folder: VoiceFolder(path: "Resources/voices/slt"))
///     try tts.synthesize("Hello there.") { samples in … }   // chunks of hop samples as they are made
///
/// Text is split into utterances at sentence marks (and, for long sentences, at clause marks or every
/// `maxWords` words), because the acoustic model was trained on sentences of up to 20 words.
public final class Synthesizer {
    public let config: TTSConfig
    public let frontEnd: TextFrontEnd
    public let acoustic: AcousticModel
    public let vocoder: Vocoder
    /// Frames decoded and vocoded per step (10 ms each) at the start of an utterance; later chunks double
    /// up to `maxChunkFrames`. The matrices run as SGEMMs over a chunk, and OpenBLAS repacks the weights
    /// on every call, so long chunks are what make it cheap per frame (measured: `synth-timing`), while a
    /// short first chunk keeps the time to first audio a few milliseconds.
    public var chunkFrames = 4 {
        didSet { chunkFrames = max(1, min(chunkFrames, maxChunkFrames)) }
    }
    public var maxChunkFrames = min(AcousticModel.maxChunk, Vocoder.maxChunk) {
        didSet { maxChunkFrames = max(1, min(maxChunkFrames, min(AcousticModel.maxChunk, Vocoder.maxChunk))) }
    }
    public var sampleRate: Int { config.audio.sampleRate }
    public var parameterCount: Int { acoustic.parameterCount + vocoder.parameterCount }

    /// Loads the voice in `folder`; `phonemizer` defaults to espeak-ng with the voice's `espeak_voice`.
    public init(folder: VoiceFolder, phonemizer: (any Phonemizer)? = nil) throws {
        let config = try TTSConfig.load(path: folder.configPath)
        self.config = config
        frontEnd = try TextFrontEnd(vocab: config.vocab, phonemizer: try phonemizer ?? EspeakPhonemizer(voice: config.espeakVoice))
        let acoustic = try Self.loading(folder.acousticPath) { try AcousticModel(config: config, weights: $0) }
        self.acoustic = acoustic
        vocoder = try Self.loading(folder.vocoderPath) {
            try Vocoder(config: config, weights: $0, melMean: acoustic.melMean, melStd: acoustic.melStd)
        }
        // Warm-up, so the first real sentence is as fast as the rest: the normaliser compiles its regular
        // expressions and espeak-ng loads its dictionary on first use (~90 ms here), and the first pass
        // through the weights faults their pages in.
        let warm = makeSession()
        for u in try utterances("Hello, 1.") { try speak(tokens: u, session: warm) { _ in } }
    }

    /// `init(folder:phonemizer:)` for the voice folder at `directory`.
    public convenience init(directory: String, phonemizer: (any Phonemizer)? = nil) throws {
        try self.init(folder: VoiceFolder(path: directory), phonemizer: phonemizer)
    }

    /// Loads the weights file at `path` and builds a model from it; every weight error becomes one
    /// `SynthesisError` naming the file once.
    private static func loading<T>(_ path: String, _ make: (WeightStore) throws -> T) throws -> T {
        do {
            return try make(try WeightStore(path: path))
        } catch let e as WeightError {
            let reason: String
            switch e {
            case let .cannotRead(_, r): reason = r
            case let .malformedHeader(_, r): reason = "malformed safetensors header: \(r)"
            default: reason = e.description
            }
            throw SynthesisError.cannotRead(path: path, reason: reason)
        }
    }

    /// Per-utterance state, allocated once and reused.
    public final class Session {
        let acoustic: AcousticModel.State
        let vocoder: Vocoder.State
        init(_ s: Synthesizer) { acoustic = s.acoustic.makeState(); vocoder = s.vocoder.makeState() }
    }

    public func makeSession() -> Session { Session(self) }

    /// Token ids of each utterance of `text`.
    public func utterances(_ text: String, maxWords: Int = 25) throws -> [[Int32]] {
        try frontEnd.utterances(text, maxWords: maxWords)
    }

    /// Speaks one utterance (`tokens` from `utterances`), calling `body` with each chunk of samples as soon
    /// as it is final. Returns the number of samples. `lengthScale` > 1 speaks slower.
    @discardableResult
    public func speak(tokens: [Int32], session: Session, lengthScale: Float = 1,
                      _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws -> Int {
        let plan = acoustic.prepare(tokens: tokens, lengthScale: lengthScale)
        session.acoustic.reset()
        vocoder.reset(session.vocoder)
        var produced = 0
        var t = 0, chunk = min(chunkFrames, maxChunkFrames)
        while t < plan.frames {
            let rows = min(chunk, plan.frames - t)
            acoustic.decode(plan, frames: t..<(t + rows), state: session.acoustic)
            let samples = vocoder.process(session.acoustic.mel.pointer, rows: rows, state: session.vocoder)
            if !samples.isEmpty { try body(samples); produced += samples.count }
            t += rows
            chunk = min(2 * chunk, maxChunkFrames)
        }
        try vocoder.finish(state: session.vocoder) { try body($0); produced += $0.count }
        return produced
    }

    /// Speaks all of `text`, utterance after utterance.
    @discardableResult
    public func synthesize(_ text: String, lengthScale: Float = 1,
                           _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws -> Int {
        let session = makeSession()
        var total = 0
        for u in try utterances(text) {
            total += try speak(tokens: u, session: session, lengthScale: lengthScale, body)
        }
        return total
    }

    /// The whole of `text` as one array of samples (convenience for tests and files).
    public func synthesizeAll(_ text: String, lengthScale: Float = 1) throws -> [Float] {
        var out: [Float] = []
        try synthesize(text, lengthScale: lengthScale) { out.append(contentsOf: $0) }
        return out
    }
}
