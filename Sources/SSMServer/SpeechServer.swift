// SpeechServer.swift: `ssmspeech serve`: routes, the WebSocket stream handler, the HTTP endpoints.
//
// Everything recognition does goes through the front door (SSMSpeech); this file only speaks HTTP and
// WebSocket (Hummingbird) and enforces the limits of `ServerOptions`.

import Dispatch
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import SSMSpeech
import ServiceLifecycle
import UnixSignals

/// The speech server: one recognizer (and optionally one voice) shared by every client.
public final class SpeechServer: Sendable {
    public let options: ServerOptions
    public let recognizer: SpeechRecognizer
    public let synthesizer: SpeechSynthesizer?
    public let metrics = ServerMetrics()
    public let engine: RecognitionEngine
    /// Names shown by /health.
    let modelName: String, voiceName: String?
    /// Whole-file work (uploads, speech) runs here, `threads` at a time, off the event loops.
    private let blockingWork: BlockingWork
    /// The open WebSocket connections (told when the server stops).
    let connections = ConnectionRegistry()
    /// Largest WebSocket frame the protocol layer accepts: twice `maxMessageBytes`, so that a message
    /// just over the limit still arrives and gets an error message before the 1009 close.
    var frameLimit: Int { options.maxMessageBytes.multipliedReportingOverflow(by: 2).overflow ? Int.max : options.maxMessageBytes * 2 }

    public init(recognizer: SpeechRecognizer, synthesizer: SpeechSynthesizer?, options: ServerOptions,
                modelName: String, voiceName: String?) {
        self.options = options
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.modelName = modelName
        self.voiceName = voiceName
        engine = RecognitionEngine(recognizer: recognizer, loops: options.threads, maxStreams: options.maxStreams,
                                   metrics: metrics, minBatchRows: options.minBatchStreams, batchWindow: options.batchWindow)
        blockingWork = BlockingWork(width: options.threads)
    }

    /// Runs until SIGTERM or SIGINT; then new connections are refused, open streams get their finals,
    /// `done` and a 1001 close (up to 10 s), and the server stops. `onListening` receives the bound port
    /// (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "ssmspeech.serve")
        logger.logLevel = .warning
        let router = Router(context: BasicWebSocketRequestContext.self)
        addRoutes(router)
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(ws: .init(maxFrameSize: frameLimit, autoPing: .enabled(timePeriod: .seconds(30)),
                                               closeTimeout: .seconds(5)))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "ssmspeech"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        // Our own signal handling, not the service group's: the streams must be flushed while their
        // connections are still open, and the HTTP server's own graceful shutdown closes them first.
        var groupConfig = ServiceGroupConfiguration(services: [app], logger: logger)
        // After the drain, connections that still do not close (a client that stopped reading) are cut.
        groupConfig.maximumGracefulShutdownDuration = .seconds(5)
        groupConfig.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfig)
        enum Finished { case server, signal }
        try await withThrowingTaskGroup(of: Finished.self) { tasks in
            tasks.addTask { try await group.run(); return .server }
            tasks.addTask { [self] in
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    await drain(timeout: .seconds(10))
                    await group.triggerGracefulShutdown()
                    break
                }
                return .signal
            }
            // Until the server has stopped (after the drain, or on an error such as a port in use).
            while let finished = try await tasks.next() {
                if finished == .server { break }
            }
            tasks.cancelAll()
        }
    }

    /// Refuses new streams, ends the open ones as if their clients had sent `end`, and waits until
    /// their connections have closed (or `timeout`).
    func drain(timeout: Duration) async {
        connections.beginShutdown()
        for c in connections.all() { c.shutDown() }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !connections.all().isEmpty && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Routes

    func addRoutes(_ router: Router<BasicWebSocketRequestContext>) {
        router.get("/health") { [self] _, _ -> Response in
            let body = "{\"status\":\"ok\",\"model\":\(TranscriptFormatter.jsonString(modelName)),\"voice\":"
                + (voiceName.map(TranscriptFormatter.jsonString) ?? "null")
                + ",\"active_streams\":\(engine.activeStreams),\"max_streams\":\(options.maxStreams)}"
            return Self.response(.ok, json: body)
        }
        router.get("/metrics") { [self] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.post("/v1/audio/transcriptions") { [self] request, _ in try await transcription(request) }
        router.post("/v1/audio/speech") { [self] request, _ in try await speech(request) }
        router.ws("/v1/stream") { [self] inbound, outbound, _ in
            try await StreamConnection(server: self, outbound: outbound).run(inbound)
        }
    }

    static func response(_ status: HTTPResponse.Status, json: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json + "\n")))
    }

    /// An OpenAI-style error body: `{"error":{"message":…,"type":"invalid_request_error"}}`.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        response(status, json: "{\"error\":{\"message\":\(TranscriptFormatter.jsonString(message)),\"type\":\"invalid_request_error\"}}")
    }

    private func body(of request: Request) async throws -> [UInt8]? {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: options.maxUploadBytes)
            return Array(buffer.readableBytesView)
        } catch let e as any HTTPResponseError where e.status == .contentTooLarge {
            metrics.reject(.uploadTooBig)
            return nil
        }
    }

    // MARK: POST /v1/audio/transcriptions

    enum TranscriptionFormat: String, CaseIterable { case json, text, srt, vtt, verboseJSON = "verbose_json" }

    func transcription(_ request: Request) async throws -> Response {
        guard let boundary = Multipart.boundary(contentType: request.headers[.contentType]) else {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, MultipartError.notMultipart.description)
        }
        guard let body = try await body(of: request) else {
            return Self.error(.contentTooLarge, "the upload is larger than \(options.maxUploadBytes) bytes")
        }
        // Parsing, decoding and recognition run off the event loops.
        enum Outcome: Sendable { case bad(String), tooLong, done(Transcript, TranscriptionFormat, Double) }
        let maxSamplesSeconds = options.maxUploadSeconds
        let outcome: Outcome = await blockingWork.run { [recognizer] in
            let parts: [FormPart]
            do { parts = try Multipart.parse(body, boundary: boundary) } catch { return .bad("\(error)") }
            guard let file = parts.first(where: { $0.name == "file" }) else { return .bad("the form has no \"file\" field") }
            let formatName = parts.first { $0.name == "response_format" }.map { String(decoding: $0.body, as: UTF8.self) } ?? "json"
            guard let format = TranscriptionFormat(rawValue: formatName.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                return .bad("response_format must be one of \(TranscriptionFormat.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(formatName.prefix(40))\"")
            }
            // libsndfile reads from a path: the upload goes to a private temporary file, removed at once.
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("ssmspeech-upload-\(UUID().uuidString)").path
            guard FileManager.default.createFile(atPath: path, contents: Data(file.body), attributes: [.posixPermissions: 0o600]) else {
                return .bad("cannot write a temporary file for the upload")
            }
            defer { try? FileManager.default.removeItem(atPath: path) }
            let t0 = DispatchTime.now().uptimeNanoseconds
            // Decoded block by block into one stream, with a cap on the audio's length: a small
            // compressed file can hold hours of audio.
            let stream = recognizer.makeStream()
            struct TooLong: Error {}
            do {
                try AudioFile.forEachBlock(path: path) { samples, rate in
                    stream.accept(samples: samples, sampleRate: rate)
                    if stream.duration > maxSamplesSeconds { throw TooLong() }
                }
            } catch is TooLong {
                return .tooLong
            } catch {
                let message = "\(error)".replacingOccurrences(of: path, with: file.filename ?? "the upload")
                return .bad("the file is not audio that can be read: \(message)")
            }
            let t = stream.finish()
            return .done(t, format, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let transcript: Transcript, format: TranscriptionFormat
        switch outcome {
        case .bad(let message):
            metrics.reject(.badRequest)
            return Self.error(.badRequest, message)
        case .tooLong:
            metrics.reject(.uploadTooBig)
            return Self.error(.contentTooLarge, "the audio is longer than \(Int(maxSamplesSeconds)) s")
        case .done(let t, let f, let seconds):
            transcript = t
            format = f
            metrics.recognized(audioSeconds: t.duration, computeSeconds: seconds)
        }
        switch format {
        case .json: return Self.response(.ok, json: "{\"text\":\(TranscriptFormatter.jsonString(transcript.text))}")
        case .text: return Self.text(transcript.text + "\n", type: "text/plain; charset=utf-8")
        case .srt: return Self.text(TranscriptFormatter.srt(transcript), type: "application/x-subrip; charset=utf-8")
        case .vtt: return Self.text(TranscriptFormatter.vtt(transcript), type: "text/vtt; charset=utf-8")
        case .verboseJSON:
            let n = TranscriptFormatter.number
            // segments: the subtitle cues of the srt/vtt formats (at most 12 words or 5 s each)
            let segments = TranscriptFormatter.cues(transcript).enumerated().map { i, cue in
                "{\"id\":\(i),\"start\":\(n(cue.first!.start, 3)),\"end\":\(n(cue.last!.end, 3)),"
                    + "\"text\":\(TranscriptFormatter.jsonString(cue.map(\.word).joined(separator: " ")))}"
            }.joined(separator: ",")
            return Self.response(.ok, json: "{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":\(n(transcript.duration, 3)),"
                + "\"text\":\(TranscriptFormatter.jsonString(transcript.text)),\"segments\":[\(segments)],"
                + "\"words\":\(TranscriptFormatter.wordsJSON(transcript.words))}")
        }
    }

    static func text(_ s: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    // MARK: POST /v1/audio/speech

    func speech(_ request: Request) async throws -> Response {
        guard let synthesizer else { return Self.error(.notFound, "this server has no voice (start it with --voice)") }
        guard let body = try await body(of: request) else {
            return Self.error(.contentTooLarge, "the request is larger than \(options.maxUploadBytes) bytes")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, "the body must be a JSON object such as {\"input\": \"Hello.\"}")
        }
        guard let input = object["input"] as? String else {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, "\"input\" (the text to speak) is missing or not a string")
        }
        if let format = object["response_format"] as? String, format != "wav" {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, "response_format must be \"wav\", got \"\(format.prefix(40))\"")
        }
        guard !input.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, "\"input\" is empty")
        }
        guard input.count <= options.maxTextCharacters else {
            metrics.reject(.badRequest)
            return Self.error(.badRequest, "\"input\" has \(input.count) characters; the limit is \(options.maxTextCharacters)")
        }
        let rate = synthesizer.sampleRate
        let audio = synthesizer.speak(input)
        return Response(status: .ok, headers: [.contentType: "audio/wav"], body: ResponseBody { writer in
            try await writer.write(ByteBuffer(bytes: AudioFile.streamingWAVHeader(sampleRate: rate)))
            for try await chunk in audio {
                try await writer.write(ByteBuffer(bytes: AudioFile.pcm16(chunk)))
            }
            try await writer.finish(nil)
        })
    }
}

/// Runs blocking work (whole-file recognition) on its own threads, at most `width` at a time, so the
/// event loops stay free.
final class BlockingWork: Sendable {
    private let queue = DispatchQueue(label: "ssmspeech.blocking", attributes: .concurrent)
    private let slots: DispatchSemaphore

    init(width: Int) { slots = DispatchSemaphore(value: max(1, width)) }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            queue.async { [slots] in
                slots.wait()
                defer { slots.signal() }
                c.resume(returning: body())
            }
        }
    }
}

/// The open WebSocket connections, so that a stopping server can tell each one. Thread-safe.
final class ConnectionRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var open: [ObjectIdentifier: StreamConnection] = [:]
    private var stopping = false

    func add(_ c: StreamConnection) { lock.lock(); open[ObjectIdentifier(c)] = c; lock.unlock() }
    func remove(_ c: StreamConnection) { lock.lock(); open[ObjectIdentifier(c)] = nil; lock.unlock() }
    func all() -> [StreamConnection] { lock.lock(); defer { lock.unlock() }; return Array(open.values) }
    func beginShutdown() { lock.lock(); stopping = true; lock.unlock() }
    var isShuttingDown: Bool { lock.lock(); defer { lock.unlock() }; return stopping }
}
