// AudioError.swift: the single error type thrown by every SSMAudio API.
//
// Every C call (libsndfile, libsoxr, read(2)/write(2)) is wrapped exactly once, and every failure
// becomes one of these cases. `description` is a single line that names the file (or stream) and the
// reason, so a command-line tool can print `error: \(error)` and be done.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors thrown by the SSMAudio module.
public enum AudioError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened at all (missing, unreadable, a directory, …).
    case cannotOpen(path: String, reason: String)
    /// The file opened but its container or sample encoding is not supported.
    case unsupportedFormat(path: String, reason: String)
    /// The sample rate is outside ``AudioLimits/sampleRates``.
    case invalidSampleRate(Int, source: String)
    /// The channel count is outside ``AudioLimits/channels``.
    case invalidChannelCount(Int, source: String)
    /// libsoxr reported an error (creation or processing).
    case resamplerFailed(String)
    /// A RIFF/WAVE header in a byte stream could not be parsed.
    case malformedWAVHeader(String)
    /// Reading samples failed after the file was opened.
    case readFailed(path: String, reason: String)
    /// Writing samples or a header failed.
    case writeFailed(path: String, reason: String)
    /// The reader of an output pipe went away (`EPIPE`); callers usually stop quietly.
    case outputClosed(path: String)
    /// An API was called with an argument or in a state it does not accept.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open '\(path)': \(reason)"
        case let .unsupportedFormat(path, reason):
            return "unsupported audio format in '\(path)': \(reason)"
        case let .invalidSampleRate(rate, source):
            return "\(source): unsupported sample rate \(rate) Hz "
                + "(expected \(AudioLimits.sampleRates.lowerBound)…\(AudioLimits.sampleRates.upperBound) Hz)"
        case let .invalidChannelCount(count, source):
            return "\(source): unsupported channel count \(count) "
                + "(expected \(AudioLimits.channels.lowerBound)…\(AudioLimits.channels.upperBound))"
        case let .resamplerFailed(reason):
            return "resampler failed: \(reason)"
        case let .malformedWAVHeader(reason):
            return "malformed WAV header: \(reason)"
        case let .readFailed(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .outputClosed(path):
            return "output '\(path)' was closed by the reader"
        case let .invalidArgument(reason):
            return "invalid argument: \(reason)"
        }
    }
}

/// Limits that every input path (files, raw PCM, WAV streams) enforces.
public enum AudioLimits {
    /// Accepted input sample rates in Hz. Below 8 kHz speech is not intelligible enough to be useful;
    /// above 768 kHz the value is almost certainly a corrupt header.
    public static let sampleRates: ClosedRange<Int> = 8_000...768_000
    /// Accepted channel counts (libsndfile's own maximum is 1024).
    public static let channels: ClosedRange<Int> = 1...1024

    /// Throws unless `rate` and `channels` are within the limits. `source` names the file or stream.
    public static func validate(sampleRate rate: Int, channels: Int, source: String) throws {
        guard sampleRates.contains(rate) else { throw AudioError.invalidSampleRate(rate, source: source) }
        guard Self.channels.contains(channels) else { throw AudioError.invalidChannelCount(channels, source: source) }
    }
}

/// The text of the current `errno`, e.g. "No such file or directory".
@inline(__always)
func errnoDescription(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
