// AudioSources.swift: the nodes where audio enters a pipeline (file, stdin, memory).

import Dispatch
import Foundation
import SSMAudio
import SSMSpeech
#if canImport(Glibc)
import Glibc
#endif

/// The raw PCM formats `FileDescriptorAudioSource` reads when a stream has no WAV header.
public typealias RawPCMFormat = SSMAudio.RawPCMFormat
public typealias PCMEncoding = SSMAudio.PCMEncoding

/// A thread-safe stop flag shared by a running source and whoever asks it to stop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// Any file libsndfile reads, decoded block by block (never held whole), mixed down to mono, as
/// `AudioBlock`s at the file's own rate (the recognition stream resamples them).
public final class FileAudioSource: PipelineSource {
    public let path: String
    public let blockFrames: Int
    private let stopFlag = StopFlag()

    public init(path: String, blockFrames: Int = 16_384) {
        self.path = path
        self.blockFrames = max(1, blockFrames)
    }

    public func run(emit: (AudioBlock, Double) -> Bool) throws {
        let file = try SoundFile(path: path)
        defer { file.close() }
        var scratch = [Float](), mono = [Float]()
        var frames: Int64 = 0
        while !stopFlag.isSet {
            mono = []
            mono.reserveCapacity(blockFrames)
            let got = try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: blockFrames)
            if got == 0 { return }
            frames += Int64(got)
            guard emit(AudioBlock(samples: mono, sampleRate: file.sampleRate), Double(frames) / Double(file.sampleRate)) else { return }
        }
    }

    public func stop() { stopFlag.set() }
}

/// Raw PCM or WAV from a file descriptor (stdin), read through `DispatchIO` one bounded read at a
/// time: the next read is issued only after the previous bytes were handed to the pipeline, so a
/// slow pipeline holds the producer back through the pipe instead of buffering without limit.
/// Bytes may arrive split in any way; the samples do not depend on the split.
public final class FileDescriptorAudioSource: PipelineSource {
    public let fileDescriptor: Int32
    public let sourceName: String
    public let format: RawPCMFormat
    /// Largest read; also bounds the bytes in flight.
    public let readBytes: Int
    private let lock = NSLock()
    private var io: DispatchIO?
    private var stopped = false

    public init(fileDescriptor: Int32 = 0, name: String = "<stdin>", format: RawPCMFormat = RawPCMFormat(), readBytes: Int = 8_192) {
        self.fileDescriptor = fileDescriptor
        sourceName = name
        self.format = format
        self.readBytes = max(1, readBytes)
    }

    /// Throws (a one-line `AudioError`) unless `format` is a raw PCM format this source can read.
    public static func validate(_ format: RawPCMFormat) throws {
        _ = try PCMStreamParser(format: format)
    }

    public func run(emit: (AudioBlock, Double) -> Bool) throws {
        var parser = try PCMStreamParser(format: format, detectWAV: true, sourceName: sourceName)
        let queue = DispatchQueue(label: "ssmspeech.source.read")
        let channel = DispatchIO(type: .stream, fileDescriptor: fileDescriptor, queue: queue) { _ in }
        channel.setLimit(lowWater: 1)
        channel.setLimit(highWater: readBytes)
        lock.lock()
        io = channel
        let stoppedEarly = stopped
        lock.unlock()
        if stoppedEarly { channel.close(flags: .stop) }
        defer { // however reading ends: no read left outstanding, and stop() has nothing more to close
            channel.close(flags: .stop)
            lock.lock(); io = nil; lock.unlock()
        }

        // The read handler only collects what arrives; parsing and `emit` (which may block on a full
        // channel) happen here on the source's own thread. One read of at most `readBytes` is in flight.
        let inbox = ReadInbox()
        var frames: Int64 = 0
        var samples = [Float]()
        func deliver(_ bytes: UnsafeRawBufferPointer) throws -> Bool {
            samples.removeAll(keepingCapacity: true)
            try parser.feed(bytes, into: &samples)
            guard !samples.isEmpty, let rate = parser.sampleRate else { return true }
            frames += Int64(samples.count)
            return emit(AudioBlock(samples: samples, sampleRate: rate), Double(frames) / Double(rate))
        }
        reading: while true {
            channel.read(offset: 0, length: readBytes, queue: queue) { done, data, error in
                inbox.post(data: data, done: done, error: error)
            }
            var got = 0
            while true {
                let (pieces, done, error) = inbox.take()
                for piece in pieces where !piece.isEmpty {
                    got += piece.count
                    var failure: Error?
                    var keepGoing = true
                    piece.enumerateBytes { region, _, stop in
                        do { keepGoing = try deliver(UnsafeRawBufferPointer(region)) } catch { failure = error }
                        if failure != nil || !keepGoing { stop = true }
                    }
                    if let failure { throw failure }
                    if !keepGoing { return }
                }
                guard done else { continue }
                if error != 0 && error != ECANCELED {
                    throw AudioError.readFailed(path: sourceName, reason: String(cString: strerror(error)))
                }
                if got == 0 || error == ECANCELED { break reading } // end of file, or stop()
                continue reading
            }
        }
        do {
            let tail = try parser.finish()
            if !tail.isEmpty, let rate = parser.sampleRate {
                frames += Int64(tail.count)
                _ = emit(AudioBlock(samples: tail, sampleRate: rate), Double(frames) / Double(rate))
            }
        } catch {
            // Stopped by a signal in the middle of a WAV header: there is no audio to flush.
            lock.lock(); let wasStopped = stopped; lock.unlock()
            if !wasStopped { throw error }
        }
    }

    public func stop() {
        lock.lock()
        stopped = true
        let channel = io
        lock.unlock()
        channel?.close(flags: .stop)
    }
}

/// Hands what a `DispatchIO` read handler receives over to the source's thread.
private final class ReadInbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var pieces: [DispatchData] = []
    private var done = false
    private var error: Int32 = 0

    func post(data: DispatchData?, done: Bool, error: Int32) {
        condition.lock()
        if let data, !data.isEmpty { pieces.append(data) }
        if done { self.done = true; self.error = error }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for data or the end of the current read; resets for the next read once it reports `done`.
    func take() -> ([DispatchData], Bool, Int32) {
        condition.lock()
        defer { condition.unlock() }
        while pieces.isEmpty && !done { condition.wait() }
        let result = (pieces, done, error)
        pieces = []
        if done { done = false; error = 0 }
        return result
    }
}

/// Samples already in memory, handed out in chunks of `chunkSamples`, optionally paced.
/// Used by `bench` and by tests.
public final class MemoryAudioSource: PipelineSource {
    public enum Pacing {
        /// As fast as the first channel takes them.
        case none
        /// Chunk k is handed over when its last sample would have been recorded, at wall-clock speed.
        case realtime
        /// Chunk k+1 is handed over only after `signal()` was called for chunk k (one chunk in flight).
        case lockstep
    }
    public let samples: [Float]
    public let sampleRate: Int
    public let chunkSamples: Int
    public let pacing: Pacing
    private let stopFlag = StopFlag()
    private let step = DispatchSemaphore(value: 0)
    /// Wall clock (uptime ns) when the first chunk's audio started "recording" (realtime pacing).
    public private(set) var startNanos: UInt64 = 0

    public init(samples: [Float], sampleRate: Int, chunkSamples: Int, pacing: Pacing = .none) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.chunkSamples = max(1, chunkSamples)
        self.pacing = pacing
    }

    /// Lock-step pacing: the result of the previous chunk has been published.
    public func signal() { step.signal() }

    public func run(emit: (AudioBlock, Double) -> Bool) throws {
        startNanos = DispatchTime.now().uptimeNanoseconds
        var offset = 0
        while offset < samples.count, !stopFlag.isSet {
            let end = min(samples.count, offset + chunkSamples)
            if case .realtime = pacing {
                let due = startNanos + UInt64(Double(end) / Double(sampleRate) * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(useconds_t((due - now) / 1000)) }
            }
            let block = AudioBlock(samples: Array(samples[offset..<end]), sampleRate: sampleRate)
            guard emit(block, Double(end) / Double(sampleRate)) else { return }
            offset = end
            if case .lockstep = pacing { step.wait() }
        }
    }

    public func stop() { stopFlag.set(); step.signal() }
}
