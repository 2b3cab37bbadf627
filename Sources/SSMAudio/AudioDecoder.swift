// AudioDecoder.swift: file → mono float samples at the model rate.

/// Decodes an audio file to mono `Float` samples at ``outputSampleRate`` (one stage of the front end).
/// ``FileAudioDecoder`` is the default implementation.
public protocol AudioDecoder {
    /// The rate of the samples handed out (16 000 Hz for the speech models).
    var outputSampleRate: Int { get }

    /// Streams the decoded samples of `path` to `body` in blocks, never holding the whole file.
    ///
    /// `blockFrames` is the number of source frames read per step; the blocks handed to `body` are
    /// roughly `blockFrames · outputSampleRate / sourceRate` long (the first may be shorter while the
    /// resampler fills). Blocks are never empty. Errors thrown by `body` stop decoding and propagate.
    func decode(path: String, blockFrames: Int, body: ([Float]) throws -> Void) throws
}

extension AudioDecoder {
    /// Decodes the whole file at once. Gives exactly the samples the streaming `decode` gives.
    public func decode(path: String) throws -> [Float] {
        var all = [Float]()
        try decode(path: path, blockFrames: FileAudioDecoder.defaultBlockFrames) { all.append(contentsOf: $0) }
        return all
    }
}

/// Facts about an audio file, read from its header.
public struct AudioFileInfo: Equatable, Sendable {
    public var path: String
    public var sampleRate: Int
    public var channels: Int
    public var frames: Int64
    public var format: SoundFile.Format
    /// Seconds of audio.
    public var duration: Double { Double(frames) / Double(sampleRate) }
}

/// The default ``AudioDecoder``: libsndfile → average of channels → libsoxr to the output rate.
///
/// Memory is bounded by `blockFrames · channels` plus the resampler's state, so multi-hour files
/// decode in a few hundred kilobytes when streamed.
///
/// Samples are bit-identical for every `blockFrames`, because the mixdown is per frame and libsoxr's
/// output does not depend on how its input is split (tested).
public struct FileAudioDecoder: AudioDecoder {
    /// Source frames read per step by the one-shot `decode(path:)`.
    public static let defaultBlockFrames = 16_384

    public var outputSampleRate: Int
    public var quality: Resampler.Quality

    public init(outputSampleRate: Int = 16_000, quality: Resampler.Quality = .high) {
        self.outputSampleRate = outputSampleRate
        self.quality = quality
    }

    /// Reads the header of `path` without decoding samples.
    public func info(path: String) throws -> AudioFileInfo {
        let file = try SoundFile(path: path)
        return AudioFileInfo(path: path, sampleRate: file.sampleRate, channels: file.channels,
                             frames: file.frames, format: file.format)
    }

    public func decode(path: String, blockFrames: Int, body: ([Float]) throws -> Void) throws {
        guard blockFrames > 0 else { throw AudioError.invalidArgument("blockFrames must be positive (got \(blockFrames))") }
        let file = try SoundFile(path: path)
        let resampler = try Resampler(inputRate: file.sampleRate, outputRate: outputSampleRate, quality: quality)
        let channels = file.channels
        var interleaved = [Float](repeating: 0, count: blockFrames * channels)
        var mono = [Float]()
        mono.reserveCapacity(blockFrames)
        var out = [Float]()
        out.reserveCapacity(Int(Double(blockFrames) * resampler.ratio) + 64)

        while true {
            let frames = try file.read(into: &interleaved, maxFrames: blockFrames)
            if frames == 0 { break }
            mono.removeAll(keepingCapacity: true)
            interleaved.withUnsafeBufferPointer { mixdown(interleaved: $0.baseAddress!, frames: frames, channels: channels, into: &mono) }
            out.removeAll(keepingCapacity: true)
            try resampler.process(mono, into: &out)
            if !out.isEmpty { try body(out) }
        }
        out.removeAll(keepingCapacity: true)
        try resampler.flush(into: &out)
        if !out.isEmpty { try body(out) }
    }
}

/// Appends the per-frame average of `channels` interleaved channels to `output`.
///
/// The sum runs over channels in order, in `Float`, and is then divided by the channel count; mono is
/// copied unchanged. File decoding and the stdin parser share this so they agree bit for bit.
/// Samples are then made safe with ``saneSample(_:)``.
@inline(__always)
func mixdown(interleaved: UnsafePointer<Float>, frames: Int, channels: Int, into output: inout [Float]) {
    if channels == 1 {
        let start = output.count
        output.append(contentsOf: UnsafeBufferPointer(start: interleaved, count: frames))
        for i in start..<output.count { output[i] = saneSample(output[i]) }
        return
    }
    let scale = Float(channels)
    reserveGeometric(&output, extra: frames)
    var p = interleaved
    for _ in 0..<frames {
        var sum: Float = 0
        for c in 0..<channels { sum += p[c] }
        output.append(saneSample(sum / scale))
        p += channels
    }
}

/// Largest sample magnitude passed on (integer PCM is within ±1; float files get 18 dB of headroom).
public let maximumSampleMagnitude: Float = 8

/// NaN and ±Inf (float files) become 0, and finite values are clamped to ±``maximumSampleMagnitude``:
/// one NaN, or a value near Float.greatestFiniteMagnitude that overflows inside the resampler's filter,
/// would otherwise poison the resampler and the encoder's recurrent state for the rest of the stream.
/// File decoding and the stdin parser both apply it, so they still agree bit for bit.
@inline(__always)
func saneSample(_ x: Float) -> Float {
    x.isFinite ? min(max(x, -maximumSampleMagnitude), maximumSampleMagnitude) : 0
}

/// Makes room for `extra` more elements without the quadratic cost of repeated exact `reserveCapacity`.
@inline(__always)
func reserveGeometric(_ array: inout [Float], extra: Int) {
    let needed = array.count + extra
    if array.capacity < needed { array.reserveCapacity(max(needed, 2 * array.capacity)) }
}
