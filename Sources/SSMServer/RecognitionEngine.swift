// RecognitionEngine.swift: the engine loops that run every connection's audio, batched.
//
// Connections push audio (already parsed into samples) into their session; an engine loop wakes, takes
// what every one of its sessions has pending, queues it on the sessions' streams (resampling, log-mel)
// and advances them all with one `RecognitionBatch` (one matrix product per weight matrix for all the
// streams with a frame ready), then sends each session's partials and finals to its outbox. Work
// piles up while a round runs, so the batches grow with the load.

import Dispatch
import Foundation
import SSMSpeech

/// What the engine sends to a connection's writer.
enum Outgoing: Sendable {
    case text(String)
    /// Close the WebSocket with this code (after the texts before it).
    case close(CloseCode, String?)
}

/// The close codes this server uses (RFC 6455 §7.4.1).
enum CloseCode: Sendable {
    case normal, goingAway, policyViolation, messageTooBig
    /// 1013 "try again later": the server carries its maximum of streams.
    case tryAgainLater
}

/// The messages of one connection, from the engine (and the connection's own checks) to the task
/// that writes them to the socket. Counts what is not yet written, so a client that does not read
/// is noticed.
final class Outbox: @unchecked Sendable {
    let messages: AsyncStream<Outgoing>
    private let continuation: AsyncStream<Outgoing>.Continuation
    private let lock = NSLock()
    private var unsent = 0, closed = false
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        (messages, continuation) = AsyncStream.makeStream(of: Outgoing.self)
    }

    /// Queues a text message; false (and nothing queued) when the outbox is closed or the client is
    /// more than `limit` messages behind.
    @discardableResult
    func send(_ text: String) -> Bool {
        lock.lock()
        guard !closed, unsent < limit else { lock.unlock(); return false }
        unsent += 1
        lock.unlock()
        continuation.yield(.text(text))
        return true
    }

    /// Queues a close after what is queued; later messages are dropped.
    func close(_ code: CloseCode, reason: String? = nil) {
        lock.lock()
        let first = !closed
        closed = true
        lock.unlock()
        guard first else { return }
        continuation.yield(.close(code, reason))
        continuation.finish()
    }

    /// Ends the outbox without a close frame (the client is gone).
    func finish() {
        lock.lock(); closed = true; lock.unlock()
        continuation.finish()
    }

    func didWrite() { lock.lock(); unsent -= 1; lock.unlock() }

    /// True when the client has fallen `limit` messages behind.
    var overflowed: Bool { lock.lock(); defer { lock.unlock() }; return unsent >= limit }

    /// Messages queued and not yet written.
    var unsentCount: Int { lock.lock(); defer { lock.unlock() }; return unsent }
}

/// One stream inside the engine. Fields marked "engine" belong to the engine loop's thread; the
/// others are guarded by the loop's lock.
final class EngineSession: @unchecked Sendable {
    let id: Int
    /// The engine loop that owns the stream.
    let loopIndex: Int
    let outbox: Outbox
    /// engine: the recognition stream and the last partial text sent.
    let stream: RecognitionStream
    var lastPartial = ""
    // guarded by the loop's lock
    var pending: [Float] = []
    var pendingRate = 16_000
    var pendingSince: UInt64?
    var endRequested = false
    var endCode = CloseCode.normal
    var cancelled = false
    var hasWork: Bool { !pending.isEmpty || endRequested || cancelled }

    init(id: Int, loopIndex: Int, stream: RecognitionStream, outbox: Outbox) {
        self.id = id
        self.loopIndex = loopIndex
        self.stream = stream
        self.outbox = outbox
    }
}

/// The server's recognition engine: `loops` threads, each owning a share of the streams and
/// advancing them together. Thread-safe.
public final class RecognitionEngine: @unchecked Sendable {
    public let recognizer: SpeechRecognizer
    let metrics: ServerMetrics
    private let loops: [EngineLoop]
    private let lock = NSLock()
    private var nextID = 0
    /// Connections admitted (`reserve`) that have not opened their stream yet, and streams open.
    private var reserved = 0, open = 0
    public let maxStreams: Int

    public init(recognizer: SpeechRecognizer, loops: Int, maxStreams: Int, metrics: ServerMetrics,
                maxBatch: Int = 128, minBatchRows: Int? = nil, batchWindow: Double = 0.02) {
        self.recognizer = recognizer
        self.metrics = metrics
        self.maxStreams = maxStreams
        self.loops = (0..<max(1, loops)).map {
            EngineLoop(index: $0, batch: RecognitionBatch(recognizer: recognizer, maxBatch: maxBatch, minBatchRows: minBatchRows),
                       metrics: metrics, batchWindow: UInt64(max(0, batchWindow) * 1e9))
        }
        for l in self.loops { l.engine = self; l.start() }
    }

    /// Streams open now, counting connections admitted that have not sent their config yet.
    public var activeStreams: Int { lock.lock(); defer { lock.unlock() }; return open + reserved }

    /// Admits a connection if fewer than `maxStreams` are open or admitted. The caller releases the
    /// admission exactly once: `open` turns it into a stream, `cancelReservation` gives it back.
    func reserve() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard open + reserved < maxStreams else { return false }
        reserved += 1
        metrics.activeStreams.set(Double(open + reserved))
        return true
    }

    /// Opens the stream of an admitted connection.
    func open(config: StreamConfig, outbox: Outbox) -> EngineSession {
        let r = config.endpoint.map { SpeechRecognizer(encoder: recognizer.encoder, decoder: recognizer.decoder, endpoint: $0) } ?? recognizer
        lock.lock()
        reserved -= 1
        open += 1
        nextID += 1
        let id = nextID
        let loop = loops.min { $0.count < $1.count }!
        metrics.activeStreams.set(Double(open + reserved))
        lock.unlock()
        let session = EngineSession(id: id, loopIndex: loop.index, stream: r.makeStream(), outbox: outbox)
        metrics.streamsTotal.increment()
        loop.add(session)
        return session
    }

    /// Gives back an admission that never became a stream.
    func cancelReservation() {
        lock.lock()
        reserved -= 1
        metrics.activeStreams.set(Double(open + reserved))
        lock.unlock()
    }

    /// Samples of `session` waiting for its engine loop.
    func backlog(_ session: EngineSession) -> Int { loop(of: session).backlog(session) }

    func push(_ session: EngineSession, samples: [Float], sampleRate: Int) {
        loop(of: session).push(session, samples: samples, sampleRate: sampleRate)
    }

    /// The end of a stream's audio: its finals, `done` and a close with `code` follow in its outbox.
    func end(_ session: EngineSession, code: CloseCode = .normal) { loop(of: session).end(session, code: code) }

    /// The client is gone: the stream is dropped without output.
    func cancel(_ session: EngineSession) { loop(of: session).cancel(session) }

    /// Ends every open stream as if its client had sent `end` (finals flushed, close code 1001).
    func endAll() { for l in loops { l.endAll(code: .goingAway) } }

    func closed(_ session: EngineSession) {
        lock.lock()
        open -= 1
        metrics.activeStreams.set(Double(open + reserved))
        lock.unlock()
    }

    private func loop(of session: EngineSession) -> EngineLoop { loops[session.loopIndex] }

    final class EngineLoop: @unchecked Sendable {
        let index: Int
        let batch: RecognitionBatch
        let metrics: ServerMetrics
        private let cond = NSCondition()
        private var sessions: [EngineSession] = []
        weak var engine: RecognitionEngine?

        /// Nanoseconds a round may wait for more streams' audio after the first arrived (batching).
        let batchWindow: UInt64

        init(index: Int, batch: RecognitionBatch, metrics: ServerMetrics, batchWindow: UInt64) {
            self.index = index
            self.batch = batch
            self.metrics = metrics
            self.batchWindow = batchWindow
        }

        var count: Int { cond.lock(); defer { cond.unlock() }; return sessions.count }

        func start() {
            let t = Thread { [self] in run() }
            t.name = "ssmspeech-engine-\(index)"
            t.start()
        }

        func backlog(_ s: EngineSession) -> Int { cond.lock(); defer { cond.unlock() }; return s.pending.count }

        func add(_ s: EngineSession) { cond.lock(); sessions.append(s); cond.unlock() }

        func push(_ s: EngineSession, samples: [Float], sampleRate: Int) {
            guard !samples.isEmpty else { return }
            cond.lock()
            if s.pendingSince == nil { s.pendingSince = DispatchTime.now().uptimeNanoseconds }
            s.pendingRate = sampleRate
            s.pending += samples
            cond.signal()
            cond.unlock()
        }

        func end(_ s: EngineSession, code: CloseCode) {
            cond.lock(); s.endRequested = true; s.endCode = code; cond.signal(); cond.unlock()
        }

        func endAll(code: CloseCode) {
            cond.lock()
            for s in sessions where !s.endRequested { s.endRequested = true; s.endCode = code }
            cond.signal()
            cond.unlock()
        }

        func cancel(_ s: EngineSession) {
            cond.lock()
            s.cancelled = true
            s.pending.removeAll()
            cond.signal()
            cond.unlock()
        }

        private struct Work {
            let session: EngineSession
            let samples: [Float]
            let rate: Int
            let since: UInt64?
            let end: Bool
            let code: CloseCode
        }

        private func run() {
            var work: [Work] = []
            var active: [RecognitionStream] = []
            var gone: [EngineSession] = []
            while true {
                cond.lock()
                while !sessions.contains(where: \.hasWork) { cond.wait() }
                // Batching: with enough streams to batch, give the others up to `batchWindow` after the
                // oldest waiting audio arrived to deliver theirs, so that they are stepped in the same
                // matrix products. A round that ran longer than that finds them waiting anyway (under
                // load, no wait at all).
                if batchWindow > 0 && sessions.count >= batch.minBatchRows {
                    while !sessions.allSatisfy({ $0.hasWork }) && !sessions.contains(where: { $0.endRequested || $0.cancelled }) {
                        let oldest = sessions.compactMap(\.pendingSince).min() ?? 0
                        let now = DispatchTime.now().uptimeNanoseconds
                        guard oldest > 0, now < oldest &+ batchWindow else { break }
                        _ = cond.wait(until: Date(timeIntervalSinceNow: Double(oldest &+ batchWindow - now) / 1e9))
                    }
                }
                work.removeAll(keepingCapacity: true)
                gone.removeAll(keepingCapacity: true)
                for s in sessions where s.hasWork {
                    if s.cancelled { gone.append(s); continue }
                    work.append(Work(session: s, samples: s.pending, rate: s.pendingRate, since: s.pendingSince,
                                     end: s.endRequested, code: s.endCode))
                    s.pending.removeAll(keepingCapacity: true)
                    s.pendingSince = nil
                    if s.endRequested { gone.append(s) }
                }
                sessions.removeAll { s in gone.contains { $0 === s } }
                cond.unlock()
                for s in gone where s.cancelled { s.outbox.finish(); engine?.closed(s) }

                let t0 = DispatchTime.now().uptimeNanoseconds
                var audio = 0.0
                active.removeAll(keepingCapacity: true)
                for w in work where !w.samples.isEmpty {
                    w.session.stream.queue(samples: w.samples, sampleRate: w.rate)
                    audio += Double(w.samples.count) / Double(w.rate)
                    active.append(w.session.stream)
                }
                let updates = active.isEmpty ? [] : batch.advance(active)
                var u = 0
                for w in work where !w.samples.isEmpty {
                    publish(updates[u], to: w.session)
                    u += 1
                }
                for w in work where w.end {
                    for update in w.session.stream.finishUpdates() { publish(update, to: w.session) }
                    w.session.outbox.send(ServerMessage.done(duration: w.session.stream.duration))
                    w.session.outbox.close(w.code)
                    engine?.closed(w.session)
                }
                let t1 = DispatchTime.now().uptimeNanoseconds
                metrics.recognized(audioSeconds: audio, computeSeconds: Double(t1 - t0) / 1e9)
                for w in work { if let since = w.since, t1 > since { metrics.chunkLatency.recordNanoseconds(Int64(t1 - since)) } }
            }
        }

        /// Sends an update's finals and, when its text changed, its partial (as `stream --json` prints them).
        private func publish(_ update: RecognitionUpdate, to s: EngineSession) {
            for f in update.finals {
                s.outbox.send(TranscriptFormatter.streamEvent(final: true, utterance: f))
                s.lastPartial = ""
            }
            if let p = update.partial, p.text != s.lastPartial {
                s.lastPartial = p.text
                s.outbox.send(TranscriptFormatter.streamEvent(final: false, utterance: p))
            }
        }
    }
}
