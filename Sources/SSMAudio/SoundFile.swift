import Foundation
// SoundFile.swift: a read-only libsndfile handle.

import CSndFile

/// An audio file opened for reading through libsndfile.
///
/// Reads every format libsndfile supports (WAV, FLAC, OGG/Vorbis, AIFF, …; 8/16/24/32-bit integer,
/// 32/64-bit float). Samples come back as interleaved `Float`; integer formats are scaled to [-1, 1)
/// (`x / 2^(bits-1)`), float formats are passed through unchanged. The handle is closed in `deinit`.
///
/// ```swift
/// let file = try SoundFile(path: "speech.flac")
/// var block = [Float]()
/// while try file.read(into: &block, maxFrames: 4096) > 0 { … }
/// ```
public final class SoundFile {
    /// The path this file was opened from (used in error messages).
    public let path: String
    /// Frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channels: Int
    /// Frames in the file as reported by libsndfile.
    public let frames: Int64
    /// The libsndfile format (container and sample encoding).
    public let format: Format

    private var handle: OpaquePointer?

    /// A libsndfile format code: `SF_FORMAT_<container> | SF_FORMAT_<encoding>`.
    public struct Format: Equatable, Sendable, CustomStringConvertible {
        /// The raw libsndfile `format` field.
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// The container part (`SF_FORMAT_TYPEMASK`), e.g. `SF_FORMAT_WAV`.
        public var container: Int32 { rawValue & Int32(SF_FORMAT_TYPEMASK) }
        /// The sample encoding part (`SF_FORMAT_SUBMASK`), e.g. `SF_FORMAT_PCM_16`.
        public var encoding: Int32 { rawValue & Int32(SF_FORMAT_SUBMASK) }
        /// libsndfile's names for both parts, e.g. "WAV (Microsoft), Signed 16 bit PCM".
        public var description: String {
            "\(Self.name(of: container)), \(Self.name(of: encoding))"
        }
        private static func name(of code: Int32) -> String {
            var info = SF_FORMAT_INFO()
            info.format = code
            let status = sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
            guard status == 0, let name = info.name else { return "0x" + String(code, radix: 16) }
            return String(cString: name)
        }
    }

    /// Opens `path` for reading.
    ///
    /// - Throws: ``AudioError/cannotOpen(path:reason:)`` when the file cannot be opened,
    ///   ``AudioError/unsupportedFormat(path:reason:)`` when libsndfile does not recognise it,
    ///   ``AudioError/invalidSampleRate(_:source:)`` or ``AudioError/invalidChannelCount(_:source:)``
    ///   when the header is outside ``AudioLimits``.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw AudioError.cannotOpen(path: path, reason: "is a directory")
        }
        var info = SF_INFO()
        guard let sf = sf_open(path, Int32(SFM_READ), &info) else {
            let code = Int(sf_error(nil))
            let reason = String(cString: sf_strerror(nil))
            if let limits = Self.wavHeaderLimitError(path: path) { throw limits }
            if code == Int(SF_ERR_UNRECOGNISED_FORMAT) || code == Int(SF_ERR_MALFORMED_FILE)
                || code == Int(SF_ERR_UNSUPPORTED_ENCODING) {
                throw AudioError.unsupportedFormat(path: path, reason: reason)
            }
            throw AudioError.cannotOpen(path: path, reason: reason)
        }
        handle = sf
        sampleRate = Int(info.samplerate)
        channels = Int(info.channels)
        frames = info.frames
        format = Format(rawValue: info.format)
        // `deinit` closes `handle` if validation throws.
        try AudioLimits.validate(sampleRate: sampleRate, channels: channels, source: path)
    }

    deinit {
        if let handle { sf_close(handle) }
    }

    /// For a WAV file libsndfile refused: the stream parser's verdict on its header when it is a sample
    /// rate or channel count outside ``AudioLimits`` (libsndfile's reason for a rate of 0 is "Internal
    /// error : SF_INFO struct incomplete"); nil otherwise, and libsndfile's reason stands.
    private static func wavHeaderLimitError(path: String) -> AudioError? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 4_096), head.count >= 12,
              var parser = try? PCMStreamParser(detectWAV: true, sourceName: path) else { return nil }
        do { _ = try parser.feed([UInt8](head)) } catch let error as AudioError {
            switch error {
            case .invalidSampleRate, .invalidChannelCount: return error
            default: return nil
            }
        } catch { return nil }
        return nil
    }

    /// Duration in seconds (`frames / sampleRate`).
    public var duration: Double { Double(frames) / Double(sampleRate) }

    /// Reads up to `maxFrames` interleaved frames into `buffer`, which must hold `maxFrames · channels`
    /// floats. Returns the number of frames read; 0 means end of file.
    ///
    /// - Throws: ``AudioError/readFailed(path:reason:)`` if libsndfile reports an error.
    public func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> Int {
        guard let handle else { throw AudioError.readFailed(path: path, reason: "file is closed") }
        guard maxFrames > 0 else { return 0 }
        precondition(buffer.count >= maxFrames * channels, "buffer too small for \(maxFrames) frames")
        let got = sf_readf_float(handle, buffer.baseAddress, sf_count_t(maxFrames))
        if got < sf_count_t(maxFrames), sf_error(handle) != 0 {
            throw AudioError.readFailed(path: path, reason: String(cString: sf_strerror(handle)))
        }
        return Int(max(got, 0))
    }

    /// Reads up to `maxFrames` interleaved frames into `buffer`, growing it (once) to
    /// `maxFrames · channels` if it is smaller. Returns the number of frames read; the valid samples are
    /// `buffer[0 ..< frames · channels]`. 0 means end of file.
    public func read(into buffer: inout [Float], maxFrames: Int) throws -> Int {
        let needed = maxFrames * channels
        if buffer.count < needed { buffer = [Float](repeating: 0, count: needed) }
        return try buffer.withUnsafeMutableBufferPointer { try read(into: $0, maxFrames: maxFrames) }
    }

    /// Closes the file now instead of at `deinit`. Later reads throw.
    public func close() {
        if let handle { sf_close(handle) }
        handle = nil
    }
}

extension SoundFile {
    /// Reads up to `maxFrames` frames and appends them to `output` mixed down to mono (the per-frame
    /// channel average, as the stdin parser does). `scratch` holds the interleaved frames and
    /// is grown once. Returns the number of frames read; 0 means end of file.
    public func readMono(appendingTo output: inout [Float], scratch: inout [Float], maxFrames: Int) throws -> Int {
        let frames = try read(into: &scratch, maxFrames: maxFrames)
        if frames > 0 {
            scratch.withUnsafeBufferPointer { mixdown(interleaved: $0.baseAddress!, frames: frames, channels: channels, into: &output) }
        }
        return frames
    }
}
