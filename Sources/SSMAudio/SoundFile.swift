import Foundation
// SoundFile.swift: a read-only libsndfile handle.

import CSndFile

/// An audio file opened for reading through libsndfile.
///
/// Reads every format libsndfile supports (WAV, FLAC, OGG/Vorbis, AIFF, MP3, …; 8/16/24/32-bit integer,
/// 32/64-bit float). Samples come back as interleaved `Float`; integer formats are scaled to [-1, 1)
/// (`x / 2^(bits-1)`), float formats are passed through unchanged. The handle is closed in `deinit`.
///
/// WAV files of PCM or IEEE float samples (regular files) are read by the stdin parser's rules instead
/// (``WAVFormatChunk``, ``PCMStreamParser``; same scaling, bit for bit), so that a file and the same
/// bytes on stdin give the same samples or the same error: a `data` size of 0 reads to the end of the
/// file, a second `data` chunk is ignored, 7-bit samples are rejected. Other WAV codecs (ADPCM, µ-law,
/// …), headers that end before their `data` chunk and malformed ones go to libsndfile.
///
/// A decoder that complains on stderr by itself (libmpg123, under libsndfile, for damaged MP3 data) is
/// silenced: its messages become an ``AudioError/readFailed(path:reason:)`` when decoding stopped well
/// before the length the file announced, and otherwise one ``AudioWarnings`` line at the end of the
/// file. Decoding that stops well short without a message is a warning too (see `checkEnd`).
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
    /// Frames in the file as reported by libsndfile (an estimate for some MP3 files).
    public let frames: Int64
    /// The libsndfile format (container and sample encoding).
    public let format: Format

    /// Which code decodes a file.
    public enum Decoder: Sendable {
        /// WAV files of PCM or float samples by the stdin parser's rules, everything else by libsndfile.
        case automatic
        /// libsndfile for every file (to compare the two).
        case libsndfile
    }

    private var handle: OpaquePointer?
    private var wav: WAVFileReader?
    private let isMPEG: Bool
    private var framesRead: Int64 = 0
    /// What the decoder wrote to stderr (cleaned, distinct, at most `maxMessages` kept) and how many lines in all.
    private var decoderMessages: [(text: String, isError: Bool)] = []
    private var decoderMessageCount = 0
    private var endChecked = false
    private static let maxMessages = 8

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

        /// The code libsndfile gives a WAV file of this format.
        init(wav: WAVFileReader) {
            let container = wav.isRF64 ? SF_FORMAT_RF64 : wav.chunk.isExtensible ? SF_FORMAT_WAVEX : SF_FORMAT_WAV
            let encoding: Int32
            switch wav.format.encoding {
            case .u8: encoding = Int32(SF_FORMAT_PCM_U8)
            case .s16le: encoding = Int32(SF_FORMAT_PCM_16)
            case .s24le: encoding = Int32(SF_FORMAT_PCM_24)
            case .s32le: encoding = Int32(SF_FORMAT_PCM_32)
            case .f32le: encoding = Int32(SF_FORMAT_FLOAT)
            case .f64le: encoding = Int32(SF_FORMAT_DOUBLE)
            }
            self.init(rawValue: Int32(container) | encoding)
        }
    }

    /// Opens `path` for reading.
    ///
    /// - Throws: ``AudioError/cannotOpen(path:reason:)`` when the file cannot be opened,
    ///   ``AudioError/unsupportedFormat(path:reason:)`` when libsndfile does not recognise it (or a WAV
    ///   header's bit depth is rejected, see ``WAVFormatChunk``),
    ///   ``AudioError/invalidSampleRate(_:source:)`` or ``AudioError/invalidChannelCount(_:source:)``
    ///   when the header is outside ``AudioLimits``.
    public convenience init(path: String) throws {
        try self.init(path: path, decoder: .automatic)
    }

    /// Opens `path` for reading with the given decoder (see ``Decoder``).
    public init(path: String, decoder: Decoder) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw AudioError.cannotOpen(path: path, reason: "is a directory")
        }
        if decoder == .automatic, case let .reader(reader) = try WAVFileReader.inspect(path: path) {
            wav = reader
            sampleRate = reader.format.sampleRate
            channels = reader.format.channels
            frames = reader.frames
            format = Format(wav: reader)
            isMPEG = false
            return
        }
        var info = SF_INFO()
        let (opened, messages) = StderrCapture.run { sf_open(path, Int32(SFM_READ), &info) }
        guard let sf = opened else {
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
        isMPEG = format.container == Int32(SF_FORMAT_MPEG)
        note(messages)
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
    /// - Throws: ``AudioError/readFailed(path:reason:)`` if reading fails, or if the decoder complained
    ///   and stopped well before the announced length (see the type's notes).
    public func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> Int {
        if let wav {
            guard maxFrames > 0 else { return 0 }
            precondition(buffer.count >= maxFrames * channels, "buffer too small for \(maxFrames) frames")
            let got = try wav.read(into: buffer, maxFrames: maxFrames)
            framesRead += Int64(got)
            return got
        }
        guard let handle else { throw AudioError.readFailed(path: path, reason: "file is closed") }
        guard maxFrames > 0 else { return 0 }
        precondition(buffer.count >= maxFrames * channels, "buffer too small for \(maxFrames) frames")
        let got: sf_count_t
        if isMPEG {
            let (n, messages) = StderrCapture.run { sf_readf_float(handle, buffer.baseAddress, sf_count_t(maxFrames)) }
            got = n
            note(messages)
        } else {
            got = sf_readf_float(handle, buffer.baseAddress, sf_count_t(maxFrames))
        }
        let frames = Int(max(got, 0))
        framesRead += Int64(frames)
        if frames < maxFrames, sf_error(handle) != 0 {
            let reason = String(cString: sf_strerror(handle))
            guard decoderMessageCount > 0 else {
                throw AudioError.readFailed(path: path, reason: "\(reason) (after \(seconds(framesRead)))")
            }
            endChecked = true
            throw AudioError.readFailed(path: path, reason: "\(decoderName) stopped at \(reached): \(decoderSaid)")
        }
        if frames < maxFrames { try checkEnd() }
        return frames
    }

    private func note(_ messages: [(text: String, isError: Bool)]) {
        decoderMessageCount += messages.count
        for m in messages where decoderMessages.count < Self.maxMessages && !decoderMessages.contains(where: { $0.text == m.text }) {
            decoderMessages.append(m)
        }
    }

    /// At the end of a file libsndfile decoded: whether decoding stopped short of the length the file
    /// announced (at less than 95 % of it, and 0.1 s or more short), and what the decoder said.
    /// Short, with decoder messages: an error. Short without any (libmpg123 gives up on some damage
    /// silently; a variable-bit-rate MP3 without a length tag only has an estimated length): a warning.
    /// Messages, not short (damage skipped): a warning.
    private func checkEnd() throws {
        guard !endChecked else { return }
        endChecked = true
        let short = announcedLength && Double(framesRead) < 0.95 * Double(frames) && frames - framesRead >= Int64(sampleRate / 10)
        guard short || decoderMessageCount > 0 else { return }
        guard decoderMessageCount > 0 else {
            AudioWarnings.emit("\(path): \(decoderName) stopped at \(reached) without an error; the rest is missing")
            return
        }
        if short { throw AudioError.readFailed(path: path, reason: "\(decoderName) stopped at \(reached): \(decoderSaid)") }
        AudioWarnings.emit("\(path): \(decoderName) skipped damaged data (\(decoderSaid)); decoded \(reached)")
    }

    private var decoderName: String { isMPEG ? "the MP3 decoder" : "the decoder" }

    /// The first three distinct decoder messages (errors before notes), joined, and how many more there were.
    private var decoderSaid: String {
        let ordered = decoderMessages.filter(\.isError) + decoderMessages.filter { !$0.isError }
        var said = ordered.prefix(3).map { m -> String in
            var t = Substring(m.text)
            while let last = t.last, last == "." || last == " " { t = t.dropLast() }
            return String(t)
        }.joined(separator: "; ")
        if decoderMessageCount > 3 { said += " (+\(decoderMessageCount - 3) more)" }
        return said
    }

    private func seconds(_ frames: Int64) -> String { String(format: "%.3f s", Double(frames) / Double(sampleRate)) }
    private var announcedLength: Bool { frames > 0 && frames < (Int64(1) << 40) }
    /// "1.234 s of 3.000 s" (the time reached, of the announced length when there is one).
    private var reached: String { announcedLength ? "\(seconds(framesRead)) of \(seconds(frames))" : seconds(framesRead) }

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
        wav?.close()
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
