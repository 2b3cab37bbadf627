// WAVFileReader.swift: WAV files read by the stdin parser's rules (PCM and IEEE float), for `SoundFile`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular RIFF/WAVE or RF64 file of PCM or IEEE float samples, read by exactly the rules
/// ``PCMStreamParser`` applies to the same bytes on stdin: the parser reads the header (``WAVFormatChunk``
/// decides the format; a `data` size of 0 or 0xFFFFFFFF means "to the end of the file"; bytes after the
/// declared data, a second `data` chunk included, are ignored), and the samples are converted by the
/// parser's own conversions. libsndfile read some of those headers differently (an empty file for a
/// `data` size of 0, an error for two `data` chunks, 7-bit samples read as bytes).
final class WAVFileReader {
    let path: String
    let format: RawPCMFormat
    let chunk: WAVFormatChunk
    let isRF64: Bool
    /// Whole frames between the data offset and the end of the declared data (or of the file).
    let frames: Int64

    private var fd: Int32
    /// File offset of the next sample byte.
    private var position: UInt64
    /// Declared data bytes not read yet; nil: to the end of the file.
    private var remaining: UInt64?
    private var bytes: [UInt8] = []

    private init(path: String, fd: Int32, format: RawPCMFormat, chunk: WAVFormatChunk, isRF64: Bool,
                 dataOffset: UInt64, declared: UInt64?, fileSize: UInt64) {
        self.path = path
        self.fd = fd
        self.format = format
        self.chunk = chunk
        self.isRF64 = isRF64
        position = dataOffset
        remaining = declared
        let available = fileSize > dataOffset ? fileSize - dataOffset : 0
        frames = Int64(min(available, declared ?? available) / UInt64(format.bytesPerFrame))
    }

    deinit { close() }

    /// What `inspect` found.
    enum Opening {
        /// A WAV file this reader reads.
        case reader(WAVFileReader)
        /// Not a regular file, not RIFF/WAVE, a header that ends before its `data` chunk, a header the
        /// parser calls malformed, or a codec other than PCM and float: libsndfile decides (and names
        /// the reason if it cannot read the file either).
        case notHandled
    }

    /// Reads the header of `path`.
    ///
    /// - Throws: the parser's error (the same as on stdin) for a PCM or float WAV header it rejects: a
    ///   bit depth (``AudioError/unsupportedFormat(path:reason:)``), a sample rate or channel count outside
    ///   ``AudioLimits``.
    static func inspect(path: String) throws -> Opening {
        let fd = openFile(path)
        guard fd >= 0 else { return .notHandled }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { closeFile(fd); return .notHandled }
        var parser: PCMStreamParser
        do { parser = try PCMStreamParser(detectWAV: true, sourceName: path) } catch { closeFile(fd); return .notHandled }
        var block = [UInt8](repeating: 0, count: 4_096)
        var offset: UInt64 = 0
        var samples = [Float]()
        while !parser.headerComplete {
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { closeFile(fd); return .notHandled } // error, or the end inside the header
            do {
                samples.removeAll(keepingCapacity: true)
                try block.withUnsafeBytes { try parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &samples) }
            } catch let error as AudioError {
                closeFile(fd)
                switch error {
                case .invalidSampleRate, .invalidChannelCount: throw error
                case .unsupportedFormat where parser.formatChunk?.isPCMOrFloat == true: throw error
                default: return .notHandled
                }
            } catch {
                closeFile(fd)
                return .notHandled
            }
            if offset == 0 && parser.container != .wav { closeFile(fd); return .notHandled }
            offset += UInt64(n)
        }
        guard parser.container == .wav, let format = parser.format, let chunk = parser.formatChunk,
              let dataOffset = parser.dataOffset else { closeFile(fd); return .notHandled }
        return .reader(WAVFileReader(path: path, fd: fd, format: format, chunk: chunk, isRF64: parser.isRF64Container,
                                     dataOffset: dataOffset, declared: parser.declaredDataBytes, fileSize: UInt64(st.st_size)))
    }

    /// Reads up to `maxFrames` interleaved frames into `buffer` (`maxFrames · channels` floats); 0 at the
    /// end of the data. An incomplete last frame is dropped, as on stdin.
    func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> Int {
        guard fd >= 0 else { throw AudioError.readFailed(path: path, reason: "file is closed") }
        let frameBytes = format.bytesPerFrame
        var want = UInt64(maxFrames) * UInt64(frameBytes)
        if let remaining { want = min(want, remaining) }
        want -= want % UInt64(frameBytes)
        guard want > 0 else { return 0 }
        if bytes.count < Int(want) { bytes = [UInt8](repeating: 0, count: Int(want)) }
        var got = 0
        while got < Int(want) {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, Int(want) - got, off_t(position) + off_t(got)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AudioError.readFailed(path: path, reason: errnoDescription())
            }
            if n == 0 { break }
            got += n
        }
        let frames = got / frameBytes
        guard frames > 0 else { remaining = 0; return 0 } // the end of the file (a partial frame is dropped)
        bytes.withUnsafeBytes { PCMStreamParser.decodeInterleaved($0.baseAddress!, frames: frames, format: format, into: buffer.baseAddress!) }
        position += UInt64(frames * frameBytes)
        if let r = remaining { remaining = r - UInt64(frames * frameBytes) }
        return frames
    }

    func close() {
        if fd >= 0 { closeFile(fd) }
        fd = -1
    }
}

private func openFile(_ path: String) -> Int32 { open(path, O_RDONLY | O_CLOEXEC) }
private func closeFile(_ fd: Int32) { _ = close(fd) }
