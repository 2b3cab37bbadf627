// WAVWriter.swift: mono (or interleaved) float samples → WAV files and WAV/raw streams.

import CSndFile
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A consumer of float samples (one stage of the output side). ``WAVFileWriter`` and
/// ``WAVStreamWriter`` are the implementations.
public protocol AudioSink: AnyObject {
    /// Writes interleaved samples (mono: one per frame), nominally in [-1, 1]; integer outputs clip.
    func write(_ samples: UnsafeBufferPointer<Float>) throws
    /// Completes the output (sizes, flush, close). Further writes throw.
    func finish() throws
}

extension AudioSink {
    /// Writes interleaved samples.
    public func write(_ samples: [Float]) throws {
        try samples.withUnsafeBufferPointer { try write($0) }
    }
}

/// Sample encoding for written audio.
public enum WAVSampleFormat: Sendable {
    /// Signed 16-bit PCM (the default; what `aplay` and every player expect).
    case pcm16
    /// IEEE 32-bit float.
    case float32

    public var bitsPerSample: Int { self == .pcm16 ? 16 : 32 }
}

/// The 44-byte canonical WAV header (`RIFF`, 16-byte `fmt `, `data`).
///
/// - Parameters:
///   - float: `true` writes `WAVE_FORMAT_IEEE_FLOAT` (3), else `WAVE_FORMAT_PCM` (1).
///   - dataBytes: size of the sample data; `nil` writes 0xFFFFFFFF in both size fields, the convention
///     for streams of unknown length (understood by aplay, sox, ffmpeg and ``PCMStreamParser``).
public func wavHeader(sampleRate: Int, channels: Int, bitsPerSample: Int, float: Bool = false,
                      dataBytes: UInt32? = nil) -> [UInt8] {
    var h = [UInt8]()
    h.reserveCapacity(44)
    func u32(_ v: UInt32) { h.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]) }
    func u16(_ v: UInt16) { h.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8)]) }
    let blockAlign = channels * ((bitsPerSample + 7) / 8)
    h.append(contentsOf: Array("RIFF".utf8))
    if let dataBytes {
        u32(UInt32(clamping: UInt64(dataBytes) + 36 + UInt64(dataBytes & 1)))
    } else {
        u32(0xFFFF_FFFF)
    }
    h.append(contentsOf: Array("WAVEfmt ".utf8))
    u32(16)
    u16(float ? 3 : 1)
    u16(UInt16(clamping: channels))
    u32(UInt32(clamping: sampleRate))
    u32(UInt32(clamping: sampleRate * blockAlign))
    u16(UInt16(clamping: blockAlign))
    u16(UInt16(clamping: bitsPerSample))
    h.append(contentsOf: Array("data".utf8))
    u32(dataBytes ?? 0xFFFF_FFFF)
    return h
}

/// Writes a WAV file through libsndfile (sizes are fixed up on `finish`). 16-bit output uses
/// the same conversion as ``encodePCM16(_:into:)`` (done here, not by libsndfile, whose rounding differs).
///
/// With `atomic: true` (and a `path` that does not exist yet or is a regular file, or a symbolic link to
/// one) the samples go to a temporary file beside it (``temporaryPath``), which `finish` renames to
/// `path`: the file appears, or is replaced, only when it is complete, and a writer that fails, is
/// ``discard()``ed or is released unfinished removes the temporary file and leaves `path` as it was. A
/// device or FIFO (`-o /dev/null`) is written directly, as without `atomic`.
public final class WAVFileWriter: AudioSink {
    public let path: String
    public let sampleRate: Int
    public let channels: Int
    public let sampleFormat: WAVSampleFormat
    /// Frames written so far.
    public private(set) var framesWritten: Int64 = 0
    /// The file being written until `finish` renames it to `path` (nil when writing `path` directly).
    public private(set) var temporaryPath: String?
    private var handle: OpaquePointer?
    private var target: String
    /// Scratch for 16-bit output.
    private var shorts: [Int16] = []

    /// Creates (or truncates) `path`, or with `atomic` a temporary file beside it.
    /// - Throws: ``AudioError/cannotOpen(path:reason:)`` if libsndfile cannot create the file.
    public init(path: String, sampleRate: Int, channels: Int = 1, sampleFormat: WAVSampleFormat = .pcm16,
                atomic: Bool = false) throws {
        guard sampleRate > 0 else { throw AudioError.invalidSampleRate(sampleRate, source: path) }
        guard AudioLimits.channels.contains(channels) else { throw AudioError.invalidChannelCount(channels, source: path) }
        self.path = path
        self.sampleRate = sampleRate
        self.channels = channels
        self.sampleFormat = sampleFormat
        self.target = path
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = Int32(SF_FORMAT_WAV) | Int32(sampleFormat == .pcm16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT)
        if atomic, let (fd, temp, target) = Self.makeTemporaryFile(beside: path) {
            guard let sf = sf_open_fd(fd, Int32(SFM_WRITE), &info, Int32(SF_TRUE)) else {
                let reason = String(cString: sf_strerror(nil))
                close(fd)
                unlink(temp)
                throw AudioError.cannotOpen(path: path, reason: reason)
            }
            handle = sf
            temporaryPath = temp
            self.target = target
        } else {
            guard let sf = sf_open(path, Int32(SFM_WRITE), &info) else {
                throw AudioError.cannotOpen(path: path, reason: String(cString: sf_strerror(nil)))
            }
            handle = sf
        }
        sf_command(handle, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
    }

    /// A new temporary file in the directory of `path` (after following a symbolic link), with the mode
    /// the file would have got (an existing file's, else 0666 less the umask). Nil if `path` is not a
    /// regular file or the directory cannot take one: then `path` is written directly.
    private static func makeTemporaryFile(beside path: String) -> (Int32, String, String)? {
        var target = path
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK {
            guard let resolved = realpath(path, nil) else { return nil } // dangling link: write through it
            target = String(cString: resolved)
            free(resolved)
        }
        let exists = stat(target, &st) == 0
        if exists && st.st_mode & S_IFMT != S_IFREG { return nil }
        let slash = target.lastIndex(of: "/")
        let dir = slash.map { String(target[...$0]) } ?? ""
        let base = slash.map { String(target[target.index(after: $0)...]) } ?? target
        var template = Array((dir + "." + base + ".XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        let temp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let mode: mode_t
        if exists {
            mode = st.st_mode & 0o7777
        } else {
            let mask = umask(0)
            umask(mask)
            mode = 0o666 & ~mask
        }
        _ = fchmod(fd, mode)
        return (fd, temp, target)
    }

    deinit {
        if let handle {
            sf_close(handle)
            if let temporaryPath { unlink(temporaryPath) }
        }
    }

    public func write(_ samples: UnsafeBufferPointer<Float>) throws {
        guard let handle else { throw AudioError.writeFailed(path: path, reason: "writer is finished") }
        guard samples.count % channels == 0 else {
            throw AudioError.invalidArgument("\(samples.count) samples is not a whole number of \(channels)-channel frames")
        }
        let frames = sf_count_t(samples.count / channels)
        guard frames > 0 else { return }
        let done: sf_count_t
        if sampleFormat == .pcm16 {
            // Converted here, by the same rule as `encodePCM16` (WAVStreamWriter, the server): libsndfile's
            // own float → short conversion rounds differently (1 LSB lower for about half the samples).
            shorts.removeAll(keepingCapacity: true)
            for x in samples { shorts.append(pcm16Sample(x)) }
            done = sf_writef_short(handle, shorts, frames)
        } else {
            done = sf_writef_float(handle, samples.baseAddress, frames)
        }
        guard done == frames else {
            throw AudioError.writeFailed(path: path, reason: String(cString: sf_strerror(handle)))
        }
        framesWritten += Int64(frames)
    }

    /// Completes the file; with a temporary file, renames it to `path` (removed if that fails).
    public func finish() throws {
        guard let handle else { return }
        self.handle = nil
        let status = sf_close(handle)
        if status != 0 {
            if let temporaryPath { unlink(temporaryPath) }
            throw AudioError.writeFailed(path: path, reason: String(cString: sf_error_number(status)))
        }
        if let temporaryPath {
            self.temporaryPath = nil
            if rename(temporaryPath, target) != 0 {
                let reason = errnoDescription()
                unlink(temporaryPath)
                throw AudioError.writeFailed(path: path, reason: reason)
            }
        }
    }

    /// Abandons the output: closes it and removes the temporary file, leaving `path` as it was (a file
    /// written directly stays as far as it got). Further writes throw.
    public func discard() {
        guard let handle else { return }
        self.handle = nil
        sf_close(handle)
        if let temporaryPath { unlink(temporaryPath) }
        temporaryPath = nil
    }
}

/// Streams audio to a file descriptor as it is produced: a WAV header with "unknown length"
/// (0xFFFFFFFF) sizes followed by samples, or headerless samples (`--format raw`).
///
/// For `synthesize | aplay`. Writes go straight to the descriptor (no buffering beyond one call).
/// A closed reader surfaces as ``AudioError/outputClosed(path:)``; the process should ignore `SIGPIPE`
/// (`signal(SIGPIPE, SIG_IGN)`) so that this error is seen instead of the signal killing it.
public final class WAVStreamWriter: AudioSink {
    public let fileDescriptor: Int32
    public let name: String
    public let sampleRate: Int
    public let channels: Int
    public let sampleFormat: WAVSampleFormat
    public let writesHeader: Bool
    /// Frames written so far.
    public private(set) var framesWritten: Int64 = 0
    private var headerPending: Bool
    private var finished = false
    private var bytes: [UInt8] = []

    /// - Parameters:
    ///   - fileDescriptor: where to write (1 for stdout). Not closed by the writer.
    ///   - header: `true` to start with a WAV header, `false` for raw little-endian samples.
    public init(fileDescriptor: Int32, name: String = "<stdout>", sampleRate: Int, channels: Int = 1,
                sampleFormat: WAVSampleFormat = .pcm16, header: Bool = true) throws {
        guard sampleRate > 0 else { throw AudioError.invalidSampleRate(sampleRate, source: name) }
        guard AudioLimits.channels.contains(channels) else { throw AudioError.invalidChannelCount(channels, source: name) }
        self.fileDescriptor = fileDescriptor
        self.name = name
        self.sampleRate = sampleRate
        self.channels = channels
        self.sampleFormat = sampleFormat
        self.writesHeader = header
        self.headerPending = header
    }

    /// Writes the header now (otherwise it goes out with the first samples, or at `finish`).
    public func writeHeader() throws {
        guard headerPending else { return }
        headerPending = false
        let h = wavHeader(sampleRate: sampleRate, channels: channels, bitsPerSample: sampleFormat.bitsPerSample,
                          float: sampleFormat == .float32, dataBytes: nil)
        try h.withUnsafeBytes { try writeFully($0) }
    }

    public func write(_ samples: UnsafeBufferPointer<Float>) throws {
        guard !finished else { throw AudioError.writeFailed(path: name, reason: "writer is finished") }
        try writeHeader()
        guard !samples.isEmpty else { return }
        bytes.removeAll(keepingCapacity: true)
        switch sampleFormat {
        case .pcm16: encodePCM16(samples, into: &bytes)
        case .float32: encodeFloat32(samples, into: &bytes)
        }
        try bytes.withUnsafeBytes { try writeFully($0) }
        framesWritten += Int64(samples.count / channels)
    }

    /// Writes the header if nothing was written yet. The descriptor stays open.
    public func finish() throws {
        guard !finished else { return }
        try writeHeader()
        finished = true
    }

    private func writeFully(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let n = posixWrite(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EPIPE { throw AudioError.outputClosed(path: name) }
                throw AudioError.writeFailed(path: name, reason: errnoDescription(code))
            }
            offset += n
        }
    }
}

/// `write(2)`, named apart from the `AudioSink.write` methods.
@inline(__always)
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #elseif canImport(Musl)
    return Musl.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}

/// Appends `samples` as signed 16-bit little-endian PCM: `round(x · 32768)` clipped to
/// [-32768, 32767], NaN → 0 (``WAVFileWriter`` writes 16-bit files with the same rule). It is the exact
/// inverse of the `x / 32768` read scaling, so 16-bit audio survives a round trip.
public func encodePCM16(_ samples: UnsafeBufferPointer<Float>, into bytes: inout [UInt8]) {
    bytes.reserveCapacity(bytes.count + 2 * samples.count)
    for x in samples {
        let u = UInt16(bitPattern: pcm16Sample(x))
        bytes.append(UInt8(u & 0xFF))
        bytes.append(UInt8(u >> 8))
    }
}

/// One sample as signed 16-bit: `round(x · 32768)` (ties to even) clipped to [-32768, 32767], NaN → 0.
@inline(__always)
public func pcm16Sample(_ x: Float) -> Int16 {
    let scaled = x * 32768
    if scaled.isNaN { return 0 }
    if scaled >= 32767 { return 32767 }
    if scaled <= -32768 { return -32768 }
    return Int16(scaled.rounded(.toNearestOrEven))
}

/// Appends `samples` as IEEE 32-bit little-endian floats.
public func encodeFloat32(_ samples: UnsafeBufferPointer<Float>, into bytes: inout [UInt8]) {
    bytes.reserveCapacity(bytes.count + 4 * samples.count)
    for x in samples {
        let u = x.bitPattern
        bytes.append(UInt8(u & 0xFF))
        bytes.append(UInt8(u >> 8 & 0xFF))
        bytes.append(UInt8(u >> 16 & 0xFF))
        bytes.append(UInt8(u >> 24))
    }
}
