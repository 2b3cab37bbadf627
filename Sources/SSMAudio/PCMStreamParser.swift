// PCMStreamParser.swift: incremental bytes → mono float samples, for stdin and sockets.

/// Sample encodings understood by ``PCMStreamParser`` (all little-endian, interleaved).
public enum PCMEncoding: String, Sendable, CaseIterable {
    /// Unsigned 8-bit, 128 = silence (the only 8-bit WAV encoding).
    case u8
    /// Signed 16-bit.
    case s16le
    /// Signed 24-bit packed in 3 bytes.
    case s24le
    /// Signed 32-bit.
    case s32le
    /// IEEE 754 32-bit float.
    case f32le
    /// IEEE 754 64-bit float.
    case f64le

    /// Bytes per sample of one channel.
    public var bytesPerSample: Int {
        switch self {
        case .u8: return 1
        case .s16le: return 2
        case .s24le: return 3
        case .s32le, .f32le: return 4
        case .f64le: return 8
        }
    }

    /// Whether samples are IEEE floats (else integers).
    public var isFloat: Bool { self == .f32le || self == .f64le }
}

/// Describes headerless PCM: rate, sample encoding and channel count.
public struct RawPCMFormat: Equatable, Sendable {
    public var sampleRate: Int
    public var encoding: PCMEncoding
    public var channels: Int

    public init(sampleRate: Int = 16_000, encoding: PCMEncoding = .s16le, channels: Int = 1) {
        self.sampleRate = sampleRate
        self.encoding = encoding
        self.channels = channels
    }

    /// Bytes per interleaved frame (`channels · bytesPerSample`).
    public var bytesPerFrame: Int { channels * encoding.bytesPerSample }
}

/// An incremental parser that turns a byte stream into mono `Float` samples at the stream's own rate.
///
/// * If the stream begins with a RIFF/WAVE (or RF64) header, the header decides the format. Chunks
///   other than `fmt `/`data` (LIST, fact, PEAK, …) are skipped; `WAVE_FORMAT_PCM` (8-bit unsigned,
///   16/24/32-bit signed), `WAVE_FORMAT_IEEE_FLOAT` (32/64-bit) and `WAVE_FORMAT_EXTENSIBLE` with either
///   sub-format are accepted, by the rules of ``WAVFormatChunk`` (12 bits in 16-bit containers read as
///   16-bit; 7 bits rejected). A `data` size of 0 or 0xFFFFFFFF (what streaming writers emit) means
///   "until end of stream"; otherwise bytes after the declared data (a second `data` chunk included)
///   are ignored. `SoundFile` reads WAV files by the same rules (it uses this parser for the header),
///   so a file and the same bytes on stdin give the same samples or the same error.
/// * Otherwise the bytes are raw PCM in the format given at `init`. Detection needs the first 4 bytes
///   ("RIFF"/"RF64"); a raw stream that starts with those exact bytes would be misread.
/// * Channels are mixed down by averaging (sum in channel order, then ÷ channels). Integers are scaled
///   like libsndfile does (`x / 2^(bits-1)`, u8 as `(x − 128)/128`), so the output is bit-identical to
///   `SoundFile.readMono`'s mixdown of the same audio stored as a file.
/// * Partial samples and frames are kept across calls: the concatenated output is bit-identical for any
///   split of the input bytes.
/// * Samples are **not** resampled; read ``sampleRate`` once it is known (a ``Resampler`` follows).
/// * At ``finish()``, a stream that ended inside the WAV header throws; a trailing partial frame
///   (fewer than `bytesPerFrame` bytes) is dropped silently and counted in ``droppedTrailingBytes``.
public struct PCMStreamParser {
    /// What the stream turned out to be.
    public enum Container: Sendable, Equatable {
        /// Not enough bytes yet to tell.
        case undetermined
        /// Headerless PCM in the format given at `init`.
        case raw
        /// RIFF/WAVE (or RF64).
        case wav
    }

    /// The format given at `init`, used if the stream has no WAV header.
    public let rawFormat: RawPCMFormat
    /// Name of the stream in error messages.
    public let sourceName: String
    /// What the stream is, once known.
    public private(set) var container: Container = .undetermined
    /// The format of the sample data, once known (raw: after 4 bytes; WAV: after the `fmt ` chunk).
    public private(set) var format: RawPCMFormat?
    /// The sample rate of the output, once known.
    public var sampleRate: Int? { format?.sampleRate }
    /// The channel count of the source, once known (the output is always mono).
    public var channels: Int? { format?.channels }
    /// Declared size of the WAV `data` chunk; `nil` for raw PCM or "until end of stream".
    public private(set) var declaredDataBytes: UInt64?
    /// The WAV `fmt ` chunk, once read (set even when its format is then rejected).
    public private(set) var formatChunk: WAVFormatChunk?
    /// Offset in the stream of the first byte of WAV sample data, once the `data` chunk header is read.
    public private(set) var dataOffset: UInt64?
    /// Whether the WAV header has been read completely (the bytes now fed are samples), or the
    /// stream is raw PCM.
    public var headerComplete: Bool {
        switch state {
        case .data, .trailer: return true
        case .finished: return format != nil
        default: return false
        }
    }
    /// Whether the stream started with "RF64" rather than "RIFF".
    public var isRF64Container: Bool { isRF64 }
    /// Bytes fed so far.
    public private(set) var bytesFed: UInt64 = 0
    /// Frames (= output samples) produced so far.
    public private(set) var framesDecoded: Int64 = 0
    /// Bytes of an incomplete last frame that ``finish()`` dropped.
    public private(set) var droppedTrailingBytes = 0

    private enum ChunkKind { case fmt, ds64 }
    private enum State {
        case detect
        case riffHeader
        case chunkHeader
        case chunkBody(ChunkKind, size: Int, stored: Int)
        case skip(UInt64)
        case data(remaining: UInt64?)
        case trailer
        case finished
    }

    private var state: State
    private var header: [UInt8] = []
    private var pending: [UInt8] = []
    private var isRF64 = false
    private var ds64DataSize: UInt64?

    /// Largest `fmt `/`ds64` chunk accepted (real ones are 16…40 bytes).
    private static let maxHeaderChunk = 4096

    /// Creates a parser.
    ///
    /// - Parameters:
    ///   - format: the raw PCM format used when the stream has no WAV header.
    ///   - detectWAV: look for a RIFF/WAVE header (default). With `false` every byte is raw PCM.
    ///   - sourceName: how errors name the stream.
    /// - Throws: ``AudioError/invalidSampleRate(_:source:)`` or
    ///   ``AudioError/invalidChannelCount(_:source:)`` for a raw format outside ``AudioLimits``.
    public init(format: RawPCMFormat = RawPCMFormat(), detectWAV: Bool = true, sourceName: String = "<stdin>") throws {
        try AudioLimits.validate(sampleRate: format.sampleRate, channels: format.channels, source: sourceName)
        rawFormat = format
        self.sourceName = sourceName
        state = .detect
        header.reserveCapacity(64)
        if !detectWAV { startRaw() }
    }

    /// Parses `bytes` and returns the new mono samples (possibly none).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws -> [Float] {
        var out = [Float]()
        try feed(bytes, into: &out)
        return out
    }

    /// Parses `bytes` and returns the new mono samples (possibly none).
    public mutating func feed(_ bytes: [UInt8]) throws -> [Float] {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    /// Parses `bytes` and appends the new mono samples to `output`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into output: inout [Float]) throws {
        if case .finished = state { throw AudioError.invalidArgument("PCMStreamParser.feed called after finish") }
        bytesFed += UInt64(bytes.count)
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let n = bytes.count
        var i = 0
        while i < n {
            switch state {
            case .detect:
                i += collect(base + i, n - i, upTo: 4)
                guard header.count == 4 else { continue }
                if header == Self.riff || header == Self.rf64 {
                    isRF64 = header == Self.rf64
                    container = .wav
                    state = .riffHeader
                } else {
                    startRaw()
                    let head = header
                    header.removeAll(keepingCapacity: true)
                    head.withUnsafeBytes { consumeData($0.baseAddress!, $0.count, into: &output) }
                }

            case .riffHeader:
                i += collect(base + i, n - i, upTo: 12)
                guard header.count == 12 else { continue }
                guard Array(header[8..<12]) == Self.wave else {
                    throw AudioError.malformedWAVHeader("\(sourceName): RIFF form type is '\(Self.fourCC(header[8..<12]))', not 'WAVE'")
                }
                header.removeAll(keepingCapacity: true)
                state = .chunkHeader

            case .chunkHeader:
                i += collect(base + i, n - i, upTo: 8)
                guard header.count == 8 else { continue }
                let id = Array(header[0..<4])
                let size = Self.le32(header, 4)
                header.removeAll(keepingCapacity: true)
                try beginChunk(id: id, size: size, offset: bytesFed - UInt64(n - i))

            case let .chunkBody(kind, size, stored):
                let take = min(size - header.count, n - i)
                header.append(contentsOf: UnsafeRawBufferPointer(start: base + i, count: take))
                i += take
                guard header.count == size else { continue }
                switch kind {
                case .fmt: try parseFmt(Array(header[0..<stored]))
                case .ds64: parseDS64(Array(header[0..<stored]))
                }
                header.removeAll(keepingCapacity: true)
                state = .chunkHeader

            case let .skip(remaining):
                let take = Int(min(remaining, UInt64(n - i)))
                i += take
                let left = remaining - UInt64(take)
                state = left == 0 ? .chunkHeader : .skip(left)

            case let .data(remaining):
                var avail = n - i
                if let remaining { avail = Int(min(UInt64(avail), remaining)) }
                consumeData(base + i, avail, into: &output)
                i += avail
                if let remaining {
                    let left = remaining - UInt64(avail)
                    state = left == 0 ? .trailer : .data(remaining: left)
                }

            case .trailer, .finished:
                i = n
            }
        }
    }

    /// Ends the stream and returns any last samples (only a stream shorter than 4 bytes has some).
    ///
    /// - Throws: ``AudioError/malformedWAVHeader(_:)`` if the stream ended inside a WAV header, before the
    ///   `data` chunk. An incomplete final frame is not an error: it is dropped (see ``droppedTrailingBytes``).
    @discardableResult
    public mutating func finish() throws -> [Float] {
        var output = [Float]()
        switch state {
        case .detect:
            startRaw()
            let head = header
            header.removeAll()
            head.withUnsafeBytes { if let b = $0.baseAddress { consumeData(b, $0.count, into: &output) } }
            droppedTrailingBytes = pending.count
            pending.removeAll()
        case .riffHeader, .chunkHeader, .chunkBody, .skip:
            throw AudioError.malformedWAVHeader(
                "\(sourceName): stream ended after \(bytesFed) bytes, inside the header (no 'data' chunk)")
        case .data, .trailer:
            droppedTrailingBytes = pending.count
            pending.removeAll()
        case .finished:
            return []
        }
        state = .finished
        return output
    }

    // MARK: - Header parsing

    private static let riff: [UInt8] = Array("RIFF".utf8)
    private static let rf64: [UInt8] = Array("RF64".utf8)
    private static let wave: [UInt8] = Array("WAVE".utf8)
    private static let fmtID: [UInt8] = Array("fmt ".utf8)
    private static let dataID: [UInt8] = Array("data".utf8)
    private static let ds64ID: [UInt8] = Array("ds64".utf8)

    /// Appends up to `limit − header.count` bytes to `header`; returns how many were taken.
    private mutating func collect(_ p: UnsafeRawPointer, _ available: Int, upTo limit: Int) -> Int {
        let take = min(limit - header.count, available)
        header.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
        return take
    }

    private mutating func startRaw() {
        container = .raw
        format = rawFormat
        state = .data(remaining: nil)
        pending.reserveCapacity(rawFormat.bytesPerFrame)
    }

    /// `offset`: where the chunk's body starts in the stream.
    private mutating func beginChunk(id: [UInt8], size: UInt32, offset: UInt64) throws {
        let padded = UInt64(size) + UInt64(size & 1)
        if id == Self.fmtID || (id == Self.ds64ID && isRF64) {
            guard Int(size) <= Self.maxHeaderChunk else {
                throw AudioError.malformedWAVHeader("\(sourceName): '\(Self.fourCC(id))' chunk of \(size) bytes is too large")
            }
            if id == Self.fmtID && size < 16 {
                throw AudioError.malformedWAVHeader("\(sourceName): 'fmt ' chunk of \(size) bytes is too short (need 16)")
            }
            state = .chunkBody(id == Self.fmtID ? .fmt : .ds64, size: Int(padded), stored: Int(size))
        } else if id == Self.dataID {
            guard let format else {
                throw AudioError.malformedWAVHeader("\(sourceName): 'data' chunk before 'fmt ' chunk")
            }
            let declared: UInt64?
            if size == 0xFFFF_FFFF && isRF64, let big = ds64DataSize, big > 0 {
                declared = big
            } else if size == 0 || size == 0xFFFF_FFFF {
                declared = nil
            } else {
                declared = UInt64(size)
            }
            declaredDataBytes = declared
            dataOffset = offset
            pending.reserveCapacity(format.bytesPerFrame)
            state = declared == 0 ? .trailer : .data(remaining: declared)
        } else {
            state = padded == 0 ? .chunkHeader : .skip(padded)
        }
    }

    private mutating func parseFmt(_ b: [UInt8]) throws {
        let chunk = try WAVFormatChunk(b, source: sourceName)
        formatChunk = chunk
        format = try chunk.pcmFormat(source: sourceName)
    }

    private mutating func parseDS64(_ b: [UInt8]) {
        guard b.count >= 16 else { return }
        ds64DataSize = UInt64(Self.le32(b, 8)) | (UInt64(Self.le32(b, 12)) << 32)
    }

    private static func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
    private static func fourCC<C: Collection>(_ b: C) -> String where C.Element == UInt8 {
        String(b.map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "?" })
    }

    // MARK: - Sample data

    /// Decodes whole frames from `p`, carrying an incomplete frame over in `pending`.
    private mutating func consumeData(_ start: UnsafeRawPointer, _ count: Int, into output: inout [Float]) {
        guard let format else { return }
        let frameBytes = format.bytesPerFrame
        var p = start
        var left = count
        if !pending.isEmpty {
            let take = min(frameBytes - pending.count, left)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
            p += take
            left -= take
            if pending.count == frameBytes {
                pending.withUnsafeBytes { Self.decodeFrames($0.baseAddress!, frames: 1, format: format, into: &output) }
                pending.removeAll(keepingCapacity: true)
                framesDecoded += 1
            }
        }
        let frames = left / frameBytes
        if frames > 0 {
            Self.decodeFrames(p, frames: frames, format: format, into: &output)
            framesDecoded += Int64(frames)
            p += frames * frameBytes
            left -= frames * frameBytes
        }
        if left > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: left)) }
    }

    // One conversion per encoding (libsndfile's scaling), shared by the mono and the interleaved decoders.
    @inline(__always) static func u8(_ p: UnsafeRawPointer) -> Float { Float(Int32(p.load(as: UInt8.self)) - 128) * (1.0 / 128) }
    @inline(__always) static func s16(_ p: UnsafeRawPointer) -> Float {
        Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self))) * (1.0 / 32768)
    }
    @inline(__always) static func s24(_ p: UnsafeRawPointer) -> Float {
        let b = p.assumingMemoryBound(to: UInt8.self)
        let v = Int32(bitPattern: UInt32(b[0]) << 8 | UInt32(b[1]) << 16 | UInt32(b[2]) << 24)
        return Float(v) * (1.0 / 2_147_483_648)
    }
    @inline(__always) static func s32(_ p: UnsafeRawPointer) -> Float {
        Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self))) * (1.0 / 2_147_483_648)
    }
    @inline(__always) static func f32(_ p: UnsafeRawPointer) -> Float {
        Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
    }
    @inline(__always) static func f64(_ p: UnsafeRawPointer) -> Float {
        Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
    }

    /// Converts `frames` interleaved frames at `p` to mono floats (libsndfile's scaling, then average).
    static func decodeFrames(_ p: UnsafeRawPointer, frames: Int, format: RawPCMFormat, into output: inout [Float]) {
        let ch = format.channels
        switch format.encoding {
        case .u8: run(p, frames, ch, 1, &output, u8)
        case .s16le: run(p, frames, ch, 2, &output, s16)
        case .s24le: run(p, frames, ch, 3, &output, s24)
        case .s32le: run(p, frames, ch, 4, &output, s32)
        case .f32le: run(p, frames, ch, 4, &output, f32)
        case .f64le: run(p, frames, ch, 8, &output, f64)
        }
    }

    /// Converts `frames` interleaved frames at `p` to interleaved floats at `out` (`frames · channels`
    /// values): libsndfile's scaling, no mixdown and no clamping, as `sf_readf_float` gives them.
    static func decodeInterleaved(_ p: UnsafeRawPointer, frames: Int, format: RawPCMFormat, into out: UnsafeMutablePointer<Float>) {
        let n = frames * format.channels
        switch format.encoding {
        case .u8: convert(p, n, 1, out, u8)
        case .s16le: convert(p, n, 2, out, s16)
        case .s24le: convert(p, n, 3, out, s24)
        case .s32le: convert(p, n, 4, out, s32)
        case .f32le: convert(p, n, 4, out, f32)
        case .f64le: convert(p, n, 8, out, f64)
        }
    }

    @inline(__always)
    private static func convert(_ start: UnsafeRawPointer, _ count: Int, _ width: Int, _ out: UnsafeMutablePointer<Float>,
                                _ convert: (UnsafeRawPointer) -> Float) {
        var p = start
        for k in 0..<count {
            out[k] = convert(p)
            p += width
        }
    }

    @inline(__always)
    private static func run(_ start: UnsafeRawPointer, _ frames: Int, _ channels: Int, _ width: Int,
                            _ output: inout [Float], _ convert: (UnsafeRawPointer) -> Float) {
        reserveGeometric(&output, extra: frames)
        var p = start
        if channels == 1 {
            for _ in 0..<frames {
                output.append(saneSample(convert(p))) // as SoundFile.readMono's mixdown does
                p += width
            }
        } else {
            let scale = Float(channels)
            for _ in 0..<frames {
                var sum: Float = 0
                for _ in 0..<channels {
                    sum += convert(p)
                    p += width
                }
                output.append(saneSample(sum / scale))
            }
        }
    }
}
