// StreamingAudioInput.swift: bytes of any split → mono samples at the model rate.

/// Turns a byte stream (raw PCM or WAV) into mono samples at ``outputSampleRate``:
/// ``PCMStreamParser`` followed by a ``Resampler`` that is created once the source rate is known.
///
/// The concatenated output of all `feed` calls plus `finish()` does not depend on how the bytes were
/// split, and equals ``FileAudioDecoder`` on the same audio stored as a file (same scaling, mixdown
/// and resampler; tested).
public final class StreamingAudioInput {
    /// Rate of the samples handed out.
    public let outputSampleRate: Int
    public let quality: Resampler.Quality
    private var parser: PCMStreamParser
    private var resampler: Resampler?
    private var scratch: [Float] = []

    /// - Parameters:
    ///   - format: raw PCM format used when the stream has no WAV header.
    ///   - outputSampleRate: rate of the output (16 000 Hz for the models).
    ///   - detectWAV: look for a RIFF/WAVE header at the start (default).
    /// - Throws: if `format` is outside ``AudioLimits``.
    public init(format: RawPCMFormat = RawPCMFormat(), outputSampleRate: Int = 16_000,
                quality: Resampler.Quality = .high, detectWAV: Bool = true, sourceName: String = "<stdin>") throws {
        parser = try PCMStreamParser(format: format, detectWAV: detectWAV, sourceName: sourceName)
        self.outputSampleRate = outputSampleRate
        self.quality = quality
    }

    /// The format of the source data, once known.
    public var sourceFormat: RawPCMFormat? { parser.format }
    /// Whether the stream is raw PCM or WAV, once known.
    public var container: PCMStreamParser.Container { parser.container }
    /// Source frames decoded so far (at the source rate).
    public var sourceFrames: Int64 { parser.framesDecoded }
    /// Bytes of an incomplete final frame dropped at `finish()`.
    public var droppedTrailingBytes: Int { parser.droppedTrailingBytes }

    /// Parses and resamples `bytes`, appending new output samples to `output`.
    public func feed(_ bytes: UnsafeRawBufferPointer, into output: inout [Float]) throws {
        scratch.removeAll(keepingCapacity: true)
        try parser.feed(bytes, into: &scratch)
        try resample(into: &output)
    }

    /// Parses and resamples `bytes`; returns the new output samples (often none while filters fill).
    public func feed(_ bytes: UnsafeRawBufferPointer) throws -> [Float] {
        var out = [Float]()
        try feed(bytes, into: &out)
        return out
    }

    /// Parses and resamples `bytes`; returns the new output samples.
    public func feed(_ bytes: [UInt8]) throws -> [Float] {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    /// Ends the stream: flushes parser and resampler and returns the last samples.
    /// - Throws: ``AudioError/malformedWAVHeader(_:)`` if the stream ended inside a WAV header.
    public func finish() throws -> [Float] {
        scratch = try parser.finish()
        var out = [Float]()
        try resample(into: &out)
        try resampler?.flush(into: &out)
        return out
    }

    private func resample(into output: inout [Float]) throws {
        if resampler == nil {
            guard let rate = parser.sampleRate else { return }
            resampler = try Resampler(inputRate: rate, outputRate: outputSampleRate, quality: quality)
        }
        guard !scratch.isEmpty else { return }
        try resampler!.process(scratch, into: &output)
    }
}
