// SpeechSynthesizer.swift: the front door for synthesis (text → 16 kHz mono samples, streamed).

import Dispatch
import Foundation
import SSMSynthesis

/// Text to speech with a streaming state-space acoustic model and vocoder.
///
///     let tts = try SpeechSynthesizer(voice: "Resources/voices/slt")
///     let samples = try tts.synthesize("Hello there.")                  // whole text at once
///     for try await chunk in tts.speak("Hello there.") { play(chunk) }   // as it is made
///
/// Numbers, money, times and common abbreviations are spelled out; long text is spoken sentence by
/// sentence. One synthesizer holds the weights and can be shared across threads; every call has its
/// own state.
public final class SpeechSynthesizer: @unchecked Sendable {
    // @unchecked: `engine` is never changed after init and not reachable from outside the package
    // (its chunk settings are mutable); every call makes its own session with its own state.

    /// The voice folder, when loaded from one.
    public let voice: VoiceFolder?
    /// The engine (front end, acoustic model, vocoder), for the pipeline's synthesis stages.
    package let engine: Synthesizer

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

    /// Speaking rates accepted: durations are multiplied by 1 / rate.
    public static let rates: ClosedRange<Float> = 0.5...2

    /// The duration multiplier for `rate`, which is brought into `rates` (a non-finite rate counts as 1).
    public static func lengthScale(rate: Float) -> Float {
        1 / (rate.isFinite ? min(max(rate, rates.lowerBound), rates.upperBound) : 1)
    }

    /// Speaks `text`, calling `body` with each chunk of samples as soon as it is final. `rate` > 1
    /// speaks faster (within `rates`). Returns the number of samples.
    @discardableResult
    public func speak(_ text: String, rate: Float = 1, _ body: ([Float]) throws -> Void) throws -> Int {
        try engine.synthesize(text, lengthScale: Self.lengthScale(rate: rate)) { try body(Array($0)) }
    }

    /// The whole of `text` as one array of samples.
    public func synthesize(_ text: String, rate: Float = 1) throws -> [Float] {
        try engine.synthesizeAll(text, lengthScale: Self.lengthScale(rate: rate))
    }

    /// The audio of `text` as an asynchronous sequence of sample chunks, made on a background thread
    /// that stays at most `buffered` chunks ahead of the consumer (synthesis runs many times faster than
    /// real time, so a slow consumer, e.g. playback, holds it back instead of letting it buffer the whole
    /// text). Stopping the iteration (break, or cancelling the task) stops the synthesis.
    public func speak(_ text: String, rate: Float = 1, buffered: Int = 8) -> SpeechAudio {
        let (stream, continuation) = AsyncThrowingStream<[Float], Error>.makeStream()
        let flow = FlowControl(credits: max(1, buffered))
        continuation.onTermination = { _ in flow.stop() }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            do {
                try speak(text, rate: rate) { chunk in
                    guard flow.acquire() else { throw CancellationError() }
                    continuation.yield(chunk)
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return SpeechAudio(base: stream, flow: flow)
    }
}

/// Chunks of synthesized samples, in order (`SpeechSynthesizer.speak(_:rate:buffered:)`). Each chunk
/// taken lets the producer make one more.
public struct SpeechAudio: AsyncSequence, Sendable {
    public typealias Element = [Float]
    let base: AsyncThrowingStream<[Float], Error>
    let flow: FlowControl

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<[Float], Error>.AsyncIterator
        let flow: FlowControl
        public mutating func next() async throws -> [Float]? {
            let chunk = try await base.next()
            if chunk != nil { flow.release() }
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), flow: flow) }
}

/// Credits between a producer thread and an asynchronous consumer: the producer blocks (on its own
/// thread, never on the consumer's) while `credits` chunks are waiting; `stop` releases it for good.
final class FlowControl: @unchecked Sendable {
    // @unchecked: `stopped` is read and written under `lock`; the semaphore is thread-safe.
    private let credits: DispatchSemaphore
    private let lock = NSLock()
    private var stopped = false

    init(credits: Int) {
        // Created at 0 and signalled up: libdispatch traps when a semaphore is freed while its count is
        // below the value it was created with, which is the normal state of an abandoned stream.
        self.credits = DispatchSemaphore(value: 0)
        for _ in 0..<credits { self.credits.signal() }
    }

    /// Waits for a credit; false once the consumer has gone.
    func acquire() -> Bool {
        credits.wait()
        lock.lock(); defer { lock.unlock() }
        return !stopped
    }

    func release() { credits.signal() }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        credits.signal()  // wake a producer waiting for a credit
    }
}
