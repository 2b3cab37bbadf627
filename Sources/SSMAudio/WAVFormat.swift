// WAVFormat.swift: the one reading of a WAV `fmt ` chunk, shared by files (`SoundFile`) and streams
// (`PCMStreamParser`), so that `transcribe FILE` and `stream < FILE` accept and reject the same headers.

/// A WAV `fmt ` chunk as written, and how SSMAudio reads its samples.
///
/// The rules (the same for a file and for stdin):
/// * `WAVE_FORMAT_PCM` (1), `WAVE_FORMAT_IEEE_FLOAT` (3), and `WAVE_FORMAT_EXTENSIBLE` (0xFFFE) whose
///   sub-format is one of them, are read here; other tags (ADPCM, µ-law, MPEG, …) are left to libsndfile
///   for files and rejected on stdin.
/// * PCM samples take `⌈wBitsPerSample / 8⌉` bytes (1 byte: unsigned; 2, 3, 4: signed) and are scaled
///   by that container, as libsndfile reads them: 12-bit samples in 16-bit containers read as 16-bit.
///   `wBitsPerSample` outside 8…32 is rejected (libsndfile read 7 bits as bytes, from what were 16-bit
///   samples: twice the duration, and noise). A `wBitsPerSample` that is not a multiple of 8 is read
///   only if `nBlockAlign` is `channels × ⌈bits / 8⌉` (the header then says the same thing twice); with
///   another block align the sample width is a guess, and the header is rejected.
/// * `WAVE_FORMAT_EXTENSIBLE`'s `wValidBitsPerSample` (fewer valid bits, e.g. 12 in 16) is accepted and
///   the sample scaled by its container, as libsndfile does (the unused low bits are zero); more valid
///   bits than the container holds is rejected. 0 means "all".
/// * Float samples are 32 or 64 bits.
/// * Otherwise `nBlockAlign` and `nAvgBytesPerSec` are not used (libsndfile does not use them either).
/// * The sample rate and channel count must be within ``AudioLimits`` (checked before the bit depth).
public struct WAVFormatChunk: Equatable, Sendable {
    /// `wFormatTag` as written (0xFFFE for `WAVE_FORMAT_EXTENSIBLE`).
    public let tag: UInt16
    /// The tag, or for `WAVE_FORMAT_EXTENSIBLE` the first two bytes of the sub-format GUID.
    public let subformat: UInt16
    public let channels: Int
    public let sampleRate: Int
    /// `nBlockAlign`: bytes per frame, as written.
    public let blockAlign: Int
    /// `wBitsPerSample`: the container size for `WAVE_FORMAT_EXTENSIBLE`.
    public let bitsPerSample: Int
    /// `wValidBitsPerSample` of `WAVE_FORMAT_EXTENSIBLE`; nil for the other tags.
    public let validBitsPerSample: Int?

    public var isExtensible: Bool { tag == 0xFFFE }
    /// Integer PCM or IEEE float, the sub-formats SSMAudio reads itself.
    public var isPCMOrFloat: Bool { subformat == 1 || subformat == 3 }

    /// Parses the body of a `fmt ` chunk (at least 16 bytes; 40 for `WAVE_FORMAT_EXTENSIBLE`).
    ///
    /// - Throws: ``AudioError/malformedWAVHeader(_:)`` for a chunk too short for its tag.
    public init(_ b: [UInt8], source: String) throws {
        guard b.count >= 16 else {
            throw AudioError.malformedWAVHeader("\(source): 'fmt ' chunk of \(b.count) bytes is too short (need 16)")
        }
        tag = Self.le16(b, 0)
        channels = Int(Self.le16(b, 2))
        sampleRate = Int(Self.le32(b, 4))
        blockAlign = Int(Self.le16(b, 12))
        bitsPerSample = Int(Self.le16(b, 14))
        if tag == 0xFFFE {
            guard b.count >= 40 else {
                throw AudioError.malformedWAVHeader("\(source): WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of \(b.count) bytes (need 40)")
            }
            validBitsPerSample = Int(Self.le16(b, 18))
            subformat = Self.le16(b, 24)
        } else {
            validBitsPerSample = nil
            subformat = tag
        }
    }

    /// The sample encoding the data chunk is read with.
    ///
    /// - Throws: ``AudioError/unsupportedFormat(path:reason:)`` for a tag other than PCM and IEEE float, or
    ///   a bit depth those cannot have (see the rules above).
    public func encoding(source: String) throws -> PCMEncoding {
        switch subformat {
        case 1:
            guard (8...32).contains(bitsPerSample) else {
                throw AudioError.unsupportedFormat(
                    path: source, reason: "WAV PCM with \(bitsPerSample) bits per sample (8 to 32 are read)")
            }
            if let valid = validBitsPerSample, valid > bitsPerSample {
                throw AudioError.unsupportedFormat(
                    path: source, reason: "WAV PCM with \(valid) valid bits in \(bitsPerSample)-bit samples")
            }
            let width = (bitsPerSample + 7) / 8
            if bitsPerSample % 8 != 0 && blockAlign != channels * width {
                throw AudioError.unsupportedFormat(
                    path: source, reason: "WAV PCM with \(bitsPerSample) bits per sample and a block align of \(blockAlign) "
                        + "(\(channels * width) expected for \(channels) channel\(channels == 1 ? "" : "s") of \(width) bytes)")
            }
            switch width {
            case 1: return .u8
            case 2: return .s16le
            case 3: return .s24le
            default: return .s32le
            }
        case 3:
            switch bitsPerSample {
            case 32: return .f32le
            case 64: return .f64le
            default:
                throw AudioError.unsupportedFormat(path: source, reason: "WAV float with \(bitsPerSample) bits per sample (32 or 64 are read)")
            }
        default:
            throw AudioError.unsupportedFormat(path: source, reason: "WAV format tag 0x\(String(subformat, radix: 16)) (only PCM and IEEE float)")
        }
    }

    /// The raw format of the data chunk: a tag other than PCM and float is rejected first, then the rate
    /// and channel count are checked against ``AudioLimits``, then the bit depth (``encoding(source:)``).
    public func pcmFormat(source: String) throws -> RawPCMFormat {
        if !isPCMOrFloat { _ = try encoding(source: source) } // throws: the tag
        try AudioLimits.validate(sampleRate: sampleRate, channels: channels, source: source)
        return RawPCMFormat(sampleRate: sampleRate, encoding: try encoding(source: source), channels: channels)
    }

    static func le16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
