// AudioSources.swift: the nodes where audio enters a pipeline (file, stdin, memory).

import Dispatch
import Foundation
import SSMAudio
import SSMSpeech
#if canImport(Glibc)
import Glibc
#endif

/// The raw PCM formats `FileDescriptorAudioSource` reads when a stream has no WAV header.

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

/// How a paced source hands out its chunks.
public enum AudioPacing: Sendable {
    /// As fast as the first channel takes them.
    case none
    /// Chunk k is handed over when its last sample would have been recorded, at wall-clock speed.
    case realtime
    /// Chunk k+1 is handed over only after `signal()` was called for chunk k (one chunk in flight).
    case lockstep
}

/// The chunking and pacing shared by ``MemoryAudioSource`` and ``PacedFileAudioSource``: chunk k is
/// samples `[k·chunkSamples, (k+1)·chunkSamples)` of the whole signal (the last one shorter), whatever
/// blocks `next` delivers them in.
final class ChunkPacer: @unchecked Sendable {
    // @unchecked: `stopFlag` and `step` are thread-safe; the rest is touched only by the running thread.
    let sampleRate: Int
    let chunkSamples: Int
    let pacing: AudioPacing
    let stopFlag = StopFlag()
    let step = DispatchSemaphore(value: 0)
    private(set) var startNanos: UInt64 = 0
    /// Samples handed over so far.
    private(set) var emitted = 0

    init(sampleRate: Int, chunkSamples: Int, pacing: AudioPacing) {
        self.sampleRate = sampleRate
        self.chunkSamples = max(1, chunkSamples)
        self.pacing = pacing
    }

    /// `next` appends the next samples of the signal to its argument and returns false at the end.
    func run(next: (inout [Float]) throws -> Bool, emit: (AudioBlock, Double) -> Bool) throws {
        startNanos = DispatchTime.now().uptimeNanoseconds
        var buffer: [Float] = []
        var start = 0 // of the unsent samples in `buffer`
        var more = true
        while !stopFlag.isSet {
            while more && buffer.count - start < chunkSamples {
                if start > 0 { buffer.removeFirst(start); start = 0 }
                more = try next(&buffer)
            }
            let count = min(chunkSamples, buffer.count - start)
            guard count > 0 else { return }
            let end = emitted + count
            if case .realtime = pacing {
                let due = startNanos + UInt64(Double(end) / Double(sampleRate) * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(useconds_t((due - now) / 1000)) }
            }
            let block = AudioBlock(samples: Array(buffer[start..<(start + count)]), sampleRate: sampleRate)
            start += count
            emitted = end
            guard emit(block, Double(end) / Double(sampleRate)) else { return }
            if case .lockstep = pacing { step.wait() }
        }
    }
}

/// Samples already in memory, handed out in chunks of `chunkSamples`, optionally paced.
/// Used by tests (``PacedFileAudioSource`` reads a file the same way without holding it).
public final class MemoryAudioSource: PipelineSource {
    public typealias Pacing = AudioPacing
    public let samples: [Float]
    public var sampleRate: Int { pacer.sampleRate }
    public var chunkSamples: Int { pacer.chunkSamples }
    public var pacing: Pacing { pacer.pacing }
    private let pacer: ChunkPacer
    /// Wall clock (uptime ns) when the first chunk's audio started "recording" (realtime pacing).
    public var startNanos: UInt64 { pacer.startNanos }

    public init(samples: [Float], sampleRate: Int, chunkSamples: Int, pacing: Pacing = .none) {
        self.samples = samples
        pacer = ChunkPacer(sampleRate: sampleRate, chunkSamples: chunkSamples, pacing: pacing)
    }

    /// Lock-step pacing: the result of the previous chunk has been published.
    public func signal() { pacer.step.signal() }

    public func run(emit: (AudioBlock, Double) -> Bool) throws {
        var given = false
        try pacer.run(next: { buffer in
            if !given { buffer.append(contentsOf: samples); given = true }
            return false
        }, emit: emit)
    }

    public func stop() { pacer.stopFlag.set(); pacer.step.signal() }
}

/// An audio file (any format `SoundFile` reads, at its own rate, mixed to mono), read block by block
/// and handed out in chunks of `chunkSamples` with the pacing of ``MemoryAudioSource``: the same
/// chunks, the same timing, without holding the file (`bench` of a 3-hour file needs a block's memory,
/// not the file's). The file is opened by `init`, so a file that cannot be read fails there.
public final class PacedFileAudioSource: PipelineSource {
    public let path: String
    public var sampleRate: Int { pacer.sampleRate }
    public var chunkSamples: Int { pacer.chunkSamples }
    public var pacing: AudioPacing { pacer.pacing }
    /// Source frames read per block.
    public let blockFrames: Int
    private let pacer: ChunkPacer
    private let file: SoundFile
    /// Wall clock (uptime ns) when the first chunk's audio started "recording" (realtime pacing).
    public var startNanos: UInt64 { pacer.startNanos }
    /// Samples handed out so far (all of the file once `run` has returned without a stop).
    public var samplesEmitted: Int { pacer.emitted }

    /// Opens `path`; `chunkSamples` is given the file's sample rate.
    public init(path: String, chunkSamples: (_ sampleRate: Int) -> Int, pacing: AudioPacing = .none,
                blockFrames: Int = AudioFile.blockFrames) throws {
        self.path = path
        file = try SoundFile(path: path)
        self.blockFrames = max(1, blockFrames)
        pacer = ChunkPacer(sampleRate: file.sampleRate, chunkSamples: chunkSamples(file.sampleRate), pacing: pacing)
    }

    deinit { file.close() }

    /// Lock-step pacing: the result of the previous chunk has been published.
    public func signal() { pacer.step.signal() }

    public func run(emit: (AudioBlock, Double) -> Bool) throws {
        var scratch = [Float]()
        try pacer.run(next: { buffer in
            try file.readMono(appendingTo: &buffer, scratch: &scratch, maxFrames: blockFrames) > 0
        }, emit: emit)
        file.close()
    }

    public func stop() { pacer.stopFlag.set(); pacer.step.signal() }
}
