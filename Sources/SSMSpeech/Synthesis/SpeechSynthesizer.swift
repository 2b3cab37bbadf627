// SpeechSynthesizer.swift: the front door for synthesis (text → 16 kHz mono samples, streamed).

import Dispatch
import Foundation
import SSMSynthesis

/// Text to speech with a streaming state-space acoustic model and vocoder.
///
///     let tts = try SpeechSynthesizer(voice: "Resources/voices/slt")
///     let samples = try tts.synthesize("Hello there.")            // whole text at once
///     for try await chunk in tts.speak("Hello there.") { play(chunk) }   // as it is made
///
/// Numbers, money, times and common abbreviations are spelled out; long text is spoken sentence by
/// sentence. One synthesizer holds the weights and can be shared across threads; every call has its
/// own state.
public final class SpeechSynthesizer: @unchecked Sendable {
    // @unchecked: `engine` is only read after init (each call makes its own session).

    /// The voice folder, when loaded from one.
    public let voice: VoiceFolder?
    /// The engine (front end, acoustic model, vocoder), for pipeline stages.
    public let engine: Synthesizer

    /// Loads a voice folder (config.json, acoustic.safetensors, vocoder.safetensors).
    public convenience init(voice path: String) throws {
        try self.init(voice: VoiceFolder(path: path))
    }

    public init(voice folder: VoiceFolder) throws {
        voice = folder
        engine = try Synthesizer(folder: folder)
    }

    /// Output sample rate in Hz (16 000 for the bundled voice).
    public var sampleRate: Int { engine.sampleRate }
    public var parameterCount: Int { engine.parameterCount }

    /// Speaks `text`, calling `body` with each chunk of samples as soon as it is final. `rate` > 1
    /// speaks faster (0.5 … 2). Returns the number of samples.
    @discardableResult
    public func speak(_ text: String, rate: Float = 1, _ body: ([Float]) throws -> Void) throws -> Int {
        try engine.synthesize(text, lengthScale: 1 / Self.clamped(rate)) { try body(Array($0)) }
    }

    /// The whole of `text` as one array of samples.
    public func synthesize(_ text: String, rate: Float = 1) throws -> [Float] {
        try engine.synthesizeAll(text, lengthScale: 1 / Self.clamped(rate))
    }

    /// The audio of `text` as an asynchronous sequence of sample chunks, produced on a background
    /// thread as fast as it is consumed would allow (synthesis runs many times faster than real time).
    /// Stopping the iteration (break, or cancelling the task) stops the synthesis.
    public func speak(_ text: String, rate: Float = 1) -> AsyncThrowingStream<[Float], Error> {
        let (stream, continuation) = AsyncThrowingStream<[Float], Error>.makeStream()
        let stop = StopSignal()
        continuation.onTermination = { _ in stop.set() }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            do {
                try speak(text, rate: rate) { chunk in
                    if stop.isSet { throw CancellationError() }
                    continuation.yield(chunk)
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return stream
    }

    private static func clamped(_ rate: Float) -> Float { rate.isFinite ? min(max(rate, 0.5), 2) : 1 }
}

/// A flag set from one thread and read from another.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
