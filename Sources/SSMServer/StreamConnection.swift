// StreamConnection.swift: one WebSocket client of `/v1/stream`, from config message to close.
//
// Three tasks per connection: the reader (config, audio, `end`), the writer (the outbox to the
// socket) and a watchdog (idle and slow clients, and a close handshake the client never answers).

import Dispatch
import Foundation
import HummingbirdWebSocket
import NIOWebSocket
import SSMSpeech

final class StreamConnection: @unchecked Sendable {
    let server: SpeechServer
    let outbound: WebSocketOutboundWriter
    let outbox: Outbox
    private let lock = NSLock()
    // guarded by lock
    private var session: EngineSession?
    /// No more input is taken: `end` was sent, an error was reported, or the server is shutting down.
    private var ended = false
    private var lastActivity = DispatchTime.now().uptimeNanoseconds
    private var readerDone = false, writerDone = false
    private var writerDoneAt: UInt64 = 0
    /// Holds an admission (`engine.reserve`) not yet turned into a stream; released exactly once.
    private var holdsReservation = false
    /// When the writer last finished writing a message (a client that stops reading stalls it).
    private var lastWrite = DispatchTime.now().uptimeNanoseconds
    /// An error of the WebSocket layer that ended the inbound stream (rethrown: the layer's close code).
    private var inboundError: Error?

    init(server: SpeechServer, outbound: WebSocketOutboundWriter) {
        self.server = server
        self.outbound = outbound
        outbox = Outbox(limit: server.options.maxUnsentMessages)
    }

    private func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    enum Role { case reader, writer, watchdog }

    func run(_ inbound: WebSocketInboundStream) async throws {
        server.connections.add(self)  // first, so that a drain that starts now sees this connection
        defer { server.connections.remove(self) }
        guard !server.connections.isShuttingDown, server.engine.reserve() else {
            // Full (or stopping): the client is told so and the connection closes; no stream is touched.
            server.metrics.reject(.capacity)
            try? await outbound.writeTextMessage(ServerMessage.error(
                "the server carries its maximum of \(server.options.maxStreams) streams; retry later or use another replica"))
            try? await outbound.close(Self.webSocketCode(.tryAgainLater), reason: "server full")
            return
        }
        locked { holdsReservation = true }
        await withTaskGroup(of: Role.self) { group in
            group.addTask { await self.write(); return .writer }
            group.addTask { await self.read(inbound); return .reader }
            group.addTask { await self.watch(); return .watchdog }
            while let role = await group.next() {
                if role == .watchdog { group.cancelAll() }
            }
        }
        // The reader's end (or the watchdog's) has ended the stream; an admission never used is given back.
        let error: (any Error)? = locked { inboundError }
        releaseReservation()
        if let error { throw error }  // the WebSocket layer closes with its own code (1009, 1007, 1002)
    }

    /// Gives back the admission if this connection still holds it (exactly once): as soon as the
    /// connection will not open a stream, so that closing handshakes do not hold slots.
    private func releaseReservation() {
        let held: Bool = locked {
            defer { holdsReservation = false }
            return holdsReservation
        }
        if held { server.engine.cancelReservation() }
    }

    /// The server is stopping: a stream ends as if its client had sent `end` (finals, then 1001).
    func shutDown() {
        let action: EngineSession?? = locked {
            guard !ended else { return .none }
            ended = true
            return .some(session)
        }
        switch action {
        case .none: return
        case .some(.some(let s)): server.engine.end(s, code: .goingAway)
        case .some(.none):  // no stream yet
            releaseReservation()
            outbox.close(.goingAway, reason: "server shutting down")
        }
    }

    /// Reports a protocol error to the client and closes.
    private func fail(_ message: String, code: CloseCode, reason: ServerMetrics.Rejection) {
        let s: EngineSession?? = locked {
            guard !ended else { return .none }
            ended = true
            return .some(session)
        }
        guard case .some(let maybe) = s else { return }
        server.metrics.reject(reason)
        // Queued before the stream is cancelled: the engine ends a cancelled stream's outbox.
        outbox.send(ServerMessage.error(message))
        outbox.close(code, reason: Self.closeReason(message))
        if let maybe { server.engine.cancel(maybe) } else { releaseReservation() }
    }

    /// A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5), cut at a character.
    static func closeReason(_ message: String) -> String {
        var out = ""
        for c in message {
            if out.utf8.count + String(c).utf8.count > 120 { break }
            out.append(c)
        }
        return out
    }

    // MARK: Reader

    private func read(_ inbound: WebSocketInboundStream) async {
        var parser: PCMStreamParser?
        let limit = server.options.maxMessageBytes
        do {
            // Messages up to the frame limit (twice ours) arrive whole, so that one over our limit gets an
            // error message; beyond the frame limit the WebSocket layer closes with 1009 on its own.
            for try await message in inbound.messages(maxSize: server.frameLimit) {
                locked { lastActivity = DispatchTime.now().uptimeNanoseconds }
                if locked({ ended }) { continue }
                let size: Int
                switch message {
                case .text(let t): size = t.utf8.count
                case .binary(let b): size = b.readableBytes
                }
                if size > limit {
                    fail("a message of \(size) bytes is larger than the limit of \(limit)", code: .messageTooBig, reason: .tooBig)
                    continue
                }
                switch message {
                case .text(let text):
                    if parser == nil {
                        do {
                            let config = try StreamConfig.parse(text, defaultEndpoint: server.recognizer.endpoint)
                            parser = try PCMStreamParser(format: config.format, detectWAV: true, sourceName: "stream")
                            locked {
                                guard !ended else { return }
                                holdsReservation = false
                                session = server.engine.open(config: config, outbox: outbox)
                                outbox.send(ServerMessage.ready(sampleRate: config.format.sampleRate,
                                                                frameSeconds: server.recognizer.encoder.frameDuration))
                            }
                        } catch {
                            fail("\(error)", code: .policyViolation, reason: .badConfig)
                        }
                    } else {
                        do {
                            switch try ControlMessage.parse(text) {
                            case .end:
                                let samples = (try? parser?.finish()) ?? []
                                let s: EngineSession? = locked {
                                    guard !ended else { return nil }
                                    ended = true
                                    return session
                                }
                                if let s {
                                    if !samples.isEmpty, let rate = parser?.sampleRate { server.engine.push(s, samples: samples, sampleRate: rate) }
                                    server.engine.end(s)
                                }
                            }
                        } catch {
                            fail("\(error)", code: .policyViolation, reason: .badRequest)
                        }
                    }
                case .binary(let buffer):
                    guard parser != nil, let s = locked({ session }) else {
                        fail("the first message must be the JSON stream config (text), not audio", code: .policyViolation, reason: .badConfig)
                        continue
                    }
                    do {
                        let samples = try buffer.withUnsafeReadableBytes { try parser!.feed($0) }
                        if let rate = parser!.sampleRate, !samples.isEmpty {
                            server.engine.push(s, samples: samples, sampleRate: rate)
                            // back-pressure: a client sending faster than the engine runs waits here
                            let cap = Int(server.options.maxBacklogSeconds * Double(rate))
                            while server.engine.backlog(s) > cap && !Task.isCancelled && !locked({ ended }) {
                                try? await Task.sleep(for: .milliseconds(10))
                                locked { lastActivity = DispatchTime.now().uptimeNanoseconds }  // waiting on us, not idle
                            }
                        }
                    } catch {
                        fail("\(error)", code: .policyViolation, reason: .badRequest)
                    }
                }
            }
        } catch {
            // The WebSocket layer ended the connection (a frame beyond the frame limit, invalid UTF-8, a
            // protocol error): `run` rethrows it so that the layer closes with its own code.
            locked { inboundError = error }
        }
        // The client is gone or closed: nothing more will be written unless a close is already queued.
        let s: EngineSession?? = locked {
            readerDone = true
            guard !ended else { return .none }
            ended = true
            return .some(session)
        }
        if case .some(let maybe) = s {
            if let maybe { server.engine.cancel(maybe) } else { releaseReservation() }
            outbox.finish()
        }
    }

    // MARK: Writer

    private func write() async {
        defer { locked { writerDone = true; writerDoneAt = DispatchTime.now().uptimeNanoseconds } }
        for await item in outbox.messages {
            do {
                switch item {
                case .text(let text):
                    try await outbound.writeTextMessage(text)
                    outbox.didWrite()
                    locked { lastWrite = DispatchTime.now().uptimeNanoseconds }
                case .close(let code, let reason):
                    try await outbound.close(Self.webSocketCode(code), reason: reason)
                    return
                }
            } catch {
                return  // the connection is gone
            }
        }
    }

    static func webSocketCode(_ c: CloseCode) -> WebSocketErrorCode {
        switch c {
        case .normal: return .normalClosure
        case .goingAway: return .goingAway
        case .policyViolation: return .policyViolation
        case .messageTooBig: return .messageTooLarge
        case .tryAgainLater: return .unknown(1013)
        }
    }

    // MARK: Watchdog

    private func watch() async {
        let idle = UInt64(server.options.idleTimeout * 1e9)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            let now = DispatchTime.now().uptimeNanoseconds
            let (r, w, wAt, last, written, isEnded) = locked { (readerDone, writerDone, writerDoneAt, lastActivity, lastWrite, ended) }
            // (Times are read after `now`: another task may have stored a later one; saturate.)
            if r && w { return }
            if w && now.subtractingSaturated(wAt) > 5_000_000_000 { return }  // closed; the client never answered
            // A client that stops reading: more than the outbox holds, or its messages stuck for 10 s.
            if outbox.overflowed || (outbox.unsentCount > 0 && now.subtractingSaturated(written) > 10_000_000_000) {
                server.metrics.reject(.slowClient)
                let s: EngineSession? = locked { ended = true; return session }
                if let s { server.engine.cancel(s) }
                return  // cancels the reader and the writer; the WebSocket layer closes the connection
            }
            if !isEnded && now.subtractingSaturated(last) > idle {
                fail("no message for \(server.options.idleTimeout) s", code: .policyViolation, reason: .idle)
            }
        }
    }
}

extension UInt64 {
    /// `self - other`, or 0 when `other` is larger.
    func subtractingSaturated(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
