// Pipeline.swift: nodes on their own serial queues, connected by bounded channels.
//
//   source ──▶ [channel] ──▶ stage ──▶ [channel] ──▶ stage ──▶ … ──▶ sink
//
// Every node runs one loop on its own serial DispatchQueue. A full channel blocks its producer
// (backpressure, nothing dropped); end of input travels down the graph as an `.end` message and each
// stage flushes what it still holds before passing it on; the first error anywhere cancels every
// channel, so all nodes stop, and `wait()` rethrows that error.

import Dispatch
import Foundation

/// Where a chunk of input came from. Stamped by the source node and carried unchanged through every
/// stage, so the sink can tell which input chunk a result belongs to (for latency measurements).
public struct ChunkInfo: Sendable, Equatable {
    /// 0, 1, 2, … in source order; the end-of-stream message has index = number of chunks.
    public var index: Int
    /// When the source handed the chunk to the pipeline (`DispatchTime` uptime, nanoseconds).
    public var arrivalNanos: UInt64
    /// Seconds of source audio up to the end of this chunk.
    public var audioEnd: Double
    /// True for the results of the final flush after end of input.
    public var isEndOfStream: Bool

    public init(index: Int, arrivalNanos: UInt64, audioEnd: Double, isEndOfStream: Bool = false) {
        self.index = index; self.arrivalNanos = arrivalNanos; self.audioEnd = audioEnd; self.isEndOfStream = isEndOfStream
    }
}

/// What travels through a channel: a payload with its chunk's info, or the end of the stream.
public enum PipelineMessage<Payload> {
    case data(ChunkInfo, Payload)
    case end(ChunkInfo)
}

/// One processing step. `process` maps each input chunk to exactly one output (possibly empty);
/// `flush` runs once at end of input and returns whatever the stage still holds (filter tails,
/// the last utterance). A stage is used from one queue at a time and may keep any state it likes.
public protocol PipelineStage: AnyObject {
    associatedtype Input
    associatedtype Output
    var name: String { get }
    func process(_ input: Input) throws -> Output
    func flush() throws -> Output
}

extension PipelineStage {
    public var name: String { String(describing: Self.self) }
}

/// A step that makes any number of outputs per input, each passed on as soon as it exists (the
/// synthesizer's speech stage: one utterance in, a chunk of samples out every 10 ms). `emit` blocks
/// while the next channel is full and returns `false` once the graph is cancelled; stop then.
public protocol PipelineExpandingStage: AnyObject {
    associatedtype Input
    associatedtype Output
    var name: String { get }
    func process(_ input: Input, emit: (Output) -> Bool) throws
    func flush(emit: (Output) -> Bool) throws
}

extension PipelineExpandingStage {
    public var name: String { String(describing: Self.self) }
}

/// A one-output-per-input stage seen as an expanding one (one node loop serves both kinds).
public final class OneToOne<S: PipelineStage>: PipelineExpandingStage {
    let stage: S
    public init(_ stage: S) { self.stage = stage }
    public var name: String { stage.name }
    public func process(_ input: S.Input, emit: (S.Output) -> Bool) throws { _ = emit(try stage.process(input)) }
    public func flush(emit: (S.Output) -> Bool) throws { _ = emit(try stage.flush()) }
}

/// Two stages run as one node: every output of `first` goes straight into `second` on the same
/// queue. Same results as two nodes joined by a channel (tested), without the hand-off between
/// threads, which on small chunks costs more than the work (see `RecognitionGraph.Layout`).
public final class FusedStage<A: PipelineExpandingStage, B: PipelineExpandingStage>: PipelineExpandingStage
where A.Output == B.Input {
    let first: A, second: B
    public init(_ first: A, _ second: B) { self.first = first; self.second = second }
    public convenience init<SA: PipelineStage, SB: PipelineStage>(_ a: SA, _ b: SB)
    where A == OneToOne<SA>, B == OneToOne<SB> { self.init(OneToOne(a), OneToOne(b)) }
    public var name: String { "\(first.name)+\(second.name)" }

    public func process(_ input: A.Input, emit: (B.Output) -> Bool) throws {
        try pass(emit: emit) { forward in try first.process(input, emit: forward) }
    }

    public func flush(emit: (B.Output) -> Bool) throws {
        try pass(emit: emit) { forward in try first.flush(emit: forward) }
        try second.flush(emit: emit)
    }

    /// Runs `produce` with an emit function that feeds `second`; an error thrown by `second` stops
    /// `produce` (its emit returns false) and is rethrown.
    private func pass(emit: (B.Output) -> Bool, _ produce: ((A.Output) -> Bool) throws -> Void) throws {
        var failure: Error?
        var open = true
        try withoutActuallyEscaping(emit) { emit in
            try produce { y in
                do { try second.process(y) { open = open && emit($0); return open } } catch { failure = error; return false }
                return open
            }
        }
        if let failure { throw failure }
    }
}

/// The head of a graph: produces chunks until its input ends (or it is stopped).
public protocol PipelineSource: AnyObject {
    associatedtype Output
    var name: String { get }
    /// Runs on the source's own queue and calls `emit` for every chunk, returning at end of input.
    /// `emit` blocks while the first channel is full and returns `false` once the pipeline is
    /// cancelled; the source should then return promptly. Each chunk's second value is the seconds of
    /// source audio up to its end (0 if unknown).
    func run(emit: (Output, Double) -> Bool) throws
    /// Asks a running source to end its input early, as if it had reached end of file (SIGINT): the
    /// stages then flush as usual. Safe to call from any thread, at any time.
    func stop()
}

extension PipelineSource {
    public var name: String { String(describing: Self.self) }
}

/// A value handed over to the one node queue that uses it from then on (a node's stage, the source,
/// the sink's closure). Swift cannot see that hand-off, so this box vouches for it: after `start()`
/// only that queue touches the value, and the builder keeps no other use of it, except
/// `PipelineSource.stop()`, which sources must make safe to call from any thread. Results the sink
/// closure writes into captured variables are visible to the caller after `wait()` returns (the
/// dispatch group orders them).
struct Handoff<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Shared by the nodes of one graph: the first error and the cancellation of every channel.
final class PipelineControl: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    private var cancellers: [() -> Void] = []

    func register(_ cancel: @escaping () -> Void) {
        lock.lock(); cancellers.append(cancel); lock.unlock()
    }

    /// Records the first error and cancels every channel, which stops every node.
    func fail(_ e: Error) {
        lock.lock()
        if error == nil { error = e }
        let all = cancellers
        lock.unlock()
        for c in all { c() }
    }

    var failed: Bool { lock.lock(); defer { lock.unlock() }; return error != nil }
}

/// A graph being assembled: `Pipeline.from(source).then(stageA).then(stageB).sink { … }`.
/// Each `then` adds a node with its own serial queue and a bounded channel in front of it; a new
/// stage plugs in between any two whose types fit, without touching the others.
public struct PipelineBuilder<Output> {
    fileprivate let control: PipelineControl
    fileprivate let group: DispatchGroup
    fileprivate let output: BoundedChannel<PipelineMessage<Output>>
    fileprivate var starters: [() -> Void]
    fileprivate let stopSource: () -> Void
    fileprivate let label: String

    /// Appends `stage`; `capacity` is the number of chunks the channel in front of the next node holds.
    public func then<S: PipelineStage>(_ stage: S, capacity: Int = 8) -> PipelineBuilder<S.Output> where S.Input == Output {
        then(OneToOne(stage), capacity: capacity)
    }

    /// Appends a stage that may emit several outputs per input (each stamped with its input's info).
    public func then<S: PipelineExpandingStage>(_ stage: S, capacity: Int = 8) -> PipelineBuilder<S.Output> where S.Input == Output {
        let input = output
        let next = BoundedChannel<PipelineMessage<S.Output>>(capacity: capacity)
        let control = self.control
        control.register { next.cancel() }
        let queue = DispatchQueue(label: "\(label).\(stage.name)")
        let group = self.group
        let node = Handoff(stage)
        let start = {
            queue.async(group: group) {
                let stage = node.value
                defer { next.close() }
                do {
                    while let message = input.receive() {
                        switch message {
                        case let .data(info, payload):
                            var open = true
                            try stage.process(payload) { open = open && next.send(.data(info, $0)); return open }
                            guard open else { return }
                        case let .end(info):
                            var last = info
                            last.isEndOfStream = true
                            var open = true
                            try stage.flush { open = open && next.send(.data(last, $0)); return open }
                            guard open else { return }
                            next.send(.end(last))
                            return
                        }
                    }
                } catch {
                    control.fail(error)
                }
            }
        }
        return PipelineBuilder<S.Output>(control: control, group: group, output: next,
                                         starters: starters + [start], stopSource: stopSource, label: label)
    }

    /// Ends the graph with `body`, called on the sink's own queue for every result in order.
    /// `body` may throw to stop the whole graph (e.g. stdout closed).
    public func sink(_ body: @escaping (ChunkInfo, Output) throws -> Void) -> Pipeline {
        let input = output
        let control = self.control
        let queue = DispatchQueue(label: "\(label).sink")
        let group = self.group
        let handed = Handoff(body)
        let start = {
            queue.async(group: group) {
                let body = handed.value
                do {
                    while let message = input.receive() {
                        if case let .data(info, payload) = message { try body(info, payload) }
                    }
                } catch {
                    control.fail(error)
                }
            }
        }
        return Pipeline(control: control, group: group, starters: starters + [start], stopSource: stopSource)
    }
}

/// A runnable graph. `start()` launches every node; `wait()` blocks until all have finished and
/// throws the first error any of them raised; `stop()` ends the input early (everything still
/// flushes); `cancel()` aborts at once without flushing.
public final class Pipeline: @unchecked Sendable {
    private let control: PipelineControl
    private let group: DispatchGroup
    private var starters: [() -> Void]
    private let stopSource: () -> Void
    private var started = false

    fileprivate init(control: PipelineControl, group: DispatchGroup, starters: [() -> Void], stopSource: @escaping () -> Void) {
        self.control = control; self.group = group; self.starters = starters; self.stopSource = stopSource
    }

    /// Starts a graph at `source`; the first channel holds `capacity` chunks.
    public static func from<S: PipelineSource>(_ source: S, capacity: Int = 8, label: String = "ssmspeech") -> PipelineBuilder<S.Output> {
        let control = PipelineControl()
        let group = DispatchGroup()
        let first = BoundedChannel<PipelineMessage<S.Output>>(capacity: capacity)
        control.register { first.cancel() }
        let node = Handoff(source)
        control.register { node.value.stop() }
        let queue = DispatchQueue(label: "\(label).source.\(source.name)")
        let start = {
            queue.async(group: group) {
                let source = node.value
                var index = 0
                var audioEnd = 0.0
                do {
                    try source.run { chunk, end in
                        audioEnd = end
                        let info = ChunkInfo(index: index, arrivalNanos: DispatchTime.now().uptimeNanoseconds, audioEnd: end)
                        index += 1
                        return first.send(.data(info, chunk))
                    }
                    if !control.failed {
                        first.send(.end(ChunkInfo(index: index, arrivalNanos: DispatchTime.now().uptimeNanoseconds,
                                                  audioEnd: audioEnd, isEndOfStream: true)))
                    }
                } catch {
                    control.fail(error)
                }
                first.close()
            }
        }
        return PipelineBuilder(control: control, group: group, output: first, starters: [start],
                               stopSource: { node.value.stop() }, label: label)
    }

    public func start() {
        precondition(!started, "a pipeline runs once")
        started = true
        for s in starters { s() }
        starters = []
    }

    /// Waits for every node to finish; rethrows the first error of any node.
    public func wait() throws {
        group.wait()
        if let e = control.error { throw e }
    }

    /// `start()` then `wait()`.
    public func run() throws {
        start()
        try wait()
    }

    /// Ends the input early as if the source reached end of file; every stage still flushes.
    public func stop() { stopSource() }

    /// Aborts every node at once with `error`; nothing more is flushed.
    public func cancel(_ error: Error = PipelineError.cancelled) { control.fail(error) }
}

/// Errors of the pipeline module.
public enum PipelineError: Error, CustomStringConvertible {
    case cancelled
    case outputClosed

    public var description: String {
        switch self {
        case .cancelled: return "cancelled"
        case .outputClosed: return "output closed"
        }
    }
}
