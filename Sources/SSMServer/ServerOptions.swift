// ServerOptions.swift: what `ssmspeech serve` is configured with; every limit in one place.

import Foundation

/// The server's address, engine size and limits (Docs/SERVER.md). The defaults are the command line's.
public struct ServerOptions: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Streams open at once; a connection beyond them gets an error message and close code 1013.
    public var maxStreams = 64
    /// Engine loops (threads) that run the streams; each batches its share. Default: one per core.
    public var threads = min(64, max(1, ProcessInfo.processInfo.activeProcessorCount))
    /// Largest WebSocket message (and frame) a client may send.
    public var maxMessageBytes = 1 << 20
    /// Largest HTTP request body (uploads to /v1/audio/transcriptions).
    public var maxUploadBytes = 50 << 20
    /// A stream with no message from its client for this long is closed (1008).
    public var idleTimeout: Double = 30
    /// Longest `input` of /v1/audio/speech, in characters.
    public var maxTextCharacters = 5_000
    /// Messages a client may fall behind in reading before it is dropped as a slow client.
    public var maxUnsentMessages = 1_000
    /// Seconds of audio a stream may have waiting for the engine before its reader waits.
    public var maxBacklogSeconds: Double = 30
    /// Seconds an engine loop waits, after the oldest waiting audio arrived, for the other streams'
    /// audio, so that they are stepped together (0: no wait; under load rounds never wait).
    public var batchWindow: Double = 0.02
    /// Fewest ready streams stepped as one batch (matrix × matrix); fewer go one by one. nil: the
    /// model's default (`RecognitionBatch.minBatchRows`).
    public var minBatchStreams: Int?
    /// Longest upload /v1/audio/transcriptions decodes, in seconds of audio.
    public var maxUploadSeconds: Double = 4 * 3600

    public init() {}

    public static let ports: ClosedRange<Int> = 0...65_535
    public static let streamCounts: ClosedRange<Int> = 1...10_000
    public static let threadCounts: ClosedRange<Int> = 1...64
    public static let messageBytes: ClosedRange<Int> = 1_024...(64 << 20)
    public static let uploadBytes: ClosedRange<Int> = 1_024...(2 << 30)
    public static let idleSeconds: ClosedRange<Double> = 0.1...86_400
    public static let textCharacters: ClosedRange<Int> = 1...1_000_000
}
