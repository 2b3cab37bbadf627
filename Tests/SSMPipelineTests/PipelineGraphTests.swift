import Dispatch
import Foundation
import SSMDecoding
import SSMPipeline
import SSMSpeech
import SSMTensor
import SSMTestSupport
import XCTest

/// A source of the integers 0..<count, optionally endless, that records how far it got.
final class CountingSource: PipelineSource {
    let count: Int
    private let flag = NSLock()
    private var stopped = false
    private(set) var produced = 0
    init(count: Int) { self.count = count }
    func run(emit: (Int, Double) -> Bool) throws {
        for i in 0..<count {
            flag.lock(); let s = stopped; flag.unlock()
            if s { return }
            produced = i + 1
            guard emit(i, Double(i)) else { return }
        }
    }
    func stop() { flag.lock(); stopped = true; flag.unlock() }
}

/// Adds 1000 · (flushes so far) to each item; sleeps at random; throws at `failAt`; on flush emits -1.
final class SlowStage: PipelineStage {
    var rng: SeededRandom
    let failAt: Int?
    let maxSleepMicros: UInt32
    private(set) var flushes = 0
    struct Boom: Error, Equatable { let at: Int }
    init(seed: UInt64, failAt: Int? = nil, maxSleepMicros: UInt32 = 200) {
        rng = SeededRandom(seed: seed); self.failAt = failAt; self.maxSleepMicros = maxSleepMicros
    }
    func process(_ x: Int) throws -> Int {
        if x == failAt { throw Boom(at: x) }
        if maxSleepMicros > 0 { usleep(UInt32(rng.uniform(0, 1) * Float(maxSleepMicros))) }
        return x
    }
    func flush() throws -> Int { flushes += 1; return -1 }
}

final class PipelineGraphTests: XCTestCase {
    /// A slow consumer holds the producer back; nothing is lost or reordered, and the buffer never
    /// holds more than its capacity.
    func testChannelBackpressureKeepsEverythingInOrder() {
        let ch = BoundedChannel<Int>(capacity: 3)
        let n = 2_000
        let received = Shared<[Int]>([])
        let consumer = DispatchQueue(label: "consumer")
        let done = DispatchSemaphore(value: 0)
        consumer.async {
            var rng = SeededRandom(seed: 5)
            while let x = ch.receive() {
                received.value.append(x)
                if rng.uniform(0, 1) < 0.05 { usleep(500) }
            }
            done.signal()
        }
        for i in 0..<n { XCTAssertTrue(ch.send(i)) }
        ch.close()
        done.wait()
        XCTAssertEqual(received.value, Array(0..<n))
        XCTAssertLessThanOrEqual(ch.highWater, 3)
        XCTAssertEqual(ch.highWater, 3, "the producer ran ahead until the buffer was full")
    }

    func testCancelReleasesBlockedSenderAndReceiver() {
        let full = BoundedChannel<Int>(capacity: 1)
        XCTAssertTrue(full.send(1))
        let empty = BoundedChannel<Int>(capacity: 1)
        let group = DispatchGroup()
        let sendResult = Shared(true)
        let receiveResult = Shared<Int?>(0)
        DispatchQueue.global().async(group: group) { sendResult.value = full.send(2) }
        DispatchQueue.global().async(group: group) { receiveResult.value = empty.receive() }
        usleep(20_000)
        full.cancel(); empty.cancel()
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success, "cancel wakes both sides")
        XCTAssertFalse(sendResult.value)
        XCTAssertNil(receiveResult.value)
    }

    /// Three slow stages with tiny buffers: every item arrives once, in order, then each stage's
    /// flush output, in stage order, then the sink ends.
    func testGraphDeliversInOrderAndFlushesEveryStage() throws {
        let stages = [SlowStage(seed: 1), SlowStage(seed: 2), SlowStage(seed: 3)]
        var got: [Int] = []
        var infos: [ChunkInfo] = []
        let graph = Pipeline.from(CountingSource(count: 500), capacity: 2)
            .then(stages[0], capacity: 1).then(stages[1], capacity: 2).then(stages[2], capacity: 1)
            .sink { info, x in got.append(x); infos.append(info) }
        try graph.run()
        // The end-of-stream message makes stage 1 flush (-1), which stages 2 and 3 pass through before
        // their own flushes: three trailing -1 outputs in the last packet train.
        XCTAssertEqual(Array(got.prefix(500)), Array(0..<500))
        XCTAssertEqual(Array(got.suffix(got.count - 500)), [-1, -1, -1])
        XCTAssertEqual(stages.map(\.flushes), [1, 1, 1])
        XCTAssertEqual(infos.prefix(500).map(\.index), Array(0..<500))
        XCTAssertTrue(infos.last!.isEndOfStream)
    }

    /// Stages fused into one node give the outputs (and flush order) of the same stages on separate
    /// nodes, and an error inside the fused node surfaces from `run()`.
    func testFusedStagesEqualSeparateNodes() throws {
        func collect(_ graph: (PipelineBuilder<Int>) -> PipelineBuilder<Int>) throws -> [Int] {
            var got: [Int] = []
            try graph(Pipeline.from(CountingSource(count: 300), capacity: 2)).sink { _, x in got.append(x) }.run()
            return got
        }
        let separate = try collect { $0.then(SlowStage(seed: 1, maxSleepMicros: 0)).then(SlowStage(seed: 2, maxSleepMicros: 0))
            .then(SlowStage(seed: 3, maxSleepMicros: 0)) }
        let stages = [SlowStage(seed: 1, maxSleepMicros: 0), SlowStage(seed: 2, maxSleepMicros: 0), SlowStage(seed: 3, maxSleepMicros: 0)]
        let fused = try collect { $0.then(FusedStage(OneToOne(stages[0]), FusedStage(stages[1], stages[2]))) }
        XCTAssertEqual(fused, separate)
        XCTAssertEqual(Array(fused.suffix(3)), [-1, -1, -1])
        XCTAssertEqual(stages.map(\.flushes), [1, 1, 1])

        let source = CountingSource(count: 1_000_000)
        let failing = Pipeline.from(source, capacity: 2)
            .then(FusedStage(SlowStage(seed: 1, maxSleepMicros: 0), SlowStage(seed: 2, failAt: 50, maxSleepMicros: 0)))
            .sink { _, _ in }
        XCTAssertThrowsError(try failing.run()) { XCTAssertEqual($0 as? SlowStage.Boom, SlowStage.Boom(at: 50)) }
        XCTAssertLessThan(source.produced, 1_000)
    }

    /// An error in a middle stage stops the whole graph (the source does not run to its end) and
    /// surfaces from `run()`.
    func testErrorStopsTheGraphAndSurfaces() {
        let source = CountingSource(count: 1_000_000)
        let graph = Pipeline.from(source, capacity: 2)
            .then(SlowStage(seed: 1, maxSleepMicros: 0)).then(SlowStage(seed: 2, failAt: 50, maxSleepMicros: 0))
            .then(SlowStage(seed: 3, maxSleepMicros: 0))
            .sink { _, _ in }
        XCTAssertThrowsError(try graph.run()) { XCTAssertEqual($0 as? SlowStage.Boom, SlowStage.Boom(at: 50)) }
        XCTAssertLessThan(source.produced, 1_000, "the source was stopped soon after the failure")
    }

    /// A sink that fails (stdout closed) stops the graph too.
    func testSinkErrorStopsTheGraph() {
        let source = CountingSource(count: 1_000_000)
        let graph = Pipeline.from(source).then(SlowStage(seed: 1, maxSleepMicros: 0))
            .sink { _, x in if x == 10 { throw PipelineError.outputClosed } }
        XCTAssertThrowsError(try graph.run())
        XCTAssertLessThan(source.produced, 1_000)
    }

    /// `stop()` (SIGINT) ends the input early but everything already in flight is processed and flushed.
    func testStopFlushesWhatWasReceived() throws {
        let source = CountingSource(count: 1_000_000)
        var got: [Int] = []
        let graph = Pipeline.from(source, capacity: 2).then(SlowStage(seed: 1, maxSleepMicros: 100))
            .sink { _, x in got.append(x) }
        graph.start()
        usleep(50_000)
        graph.stop()
        try graph.wait()
        XCTAssertGreaterThan(got.count, 2)
        XCTAssertEqual(got.last, -1, "the stage flushed after stop")
        XCTAssertEqual(Array(got.dropLast()), Array(0..<(got.count - 1)), "nothing lost or reordered")
        XCTAssertLessThan(source.produced, 1_000_000)
    }
}

/// The CTC stage alone, on hand-made logits.
final class CTCStageTests: XCTestCase {
    let vocab = ["<blank>", " ", "a", "b"]

    /// One-hot-ish logits for a symbol sequence (index per frame).
    func logits(_ seq: [Int]) -> Matrix {
        var m = Matrix(rows: seq.count, cols: vocab.count, repeating: -5)
        for (t, s) in seq.enumerated() { m[t, s] = 5 }
        return m
    }

    func testEndpointsSplitUtterancesWithAbsoluteTimes() throws {
        // frames of 30 ms; endpoint after 0.09 s = 3 blank frames
        let stage = CTCStage(vocabulary: vocab, frameDuration: 0.03, decoder: .greedy,
                             endpoint: EndpointConfig(trailingSilence: 0.09, maxUtterance: 0))
        //          a  a  _  b  _  _  _  (endpoint)  b  _  a
        let first = stage.process(logits([2, 2, 0, 3, 0, 0]))
        XCTAssertTrue(first.finals.isEmpty)
        XCTAssertEqual(first.partial?.text, "ab")
        let second = stage.process(logits([0, 3, 0, 1, 2]))
        XCTAssertEqual(second.finals.map(\.text), ["ab"])
        XCTAssertEqual(second.finals[0].words, [WordTiming(word: "ab", start: 0, end: 0.12)])
        XCTAssertEqual(second.partial?.text, "b a")
        let tail = stage.flush()
        XCTAssertEqual(tail.finals.map(\.text), ["b a"])
        XCTAssertEqual(tail.finals[0].words.map(\.start).map { ($0 * 1000).rounded() }, [210, 300])
        XCTAssertTrue(stage.flush().finals.isEmpty, "nothing left after the last flush")
    }

    func testMaxUtteranceCutsAStreamWithoutPauses() throws {
        let stage = CTCStage(vocabulary: vocab, frameDuration: 0.03, decoder: .greedy,
                             endpoint: EndpointConfig(trailingSilence: 0.09, maxUtterance: 0.3))
        let u = stage.process(logits(Array(repeating: [2, 3], count: 10).flatMap { $0 }))
        XCTAssertEqual(u.finals.count, 2, "20 frames of 30 ms with a 0.3 s cap: two cuts")
        XCTAssertEqual(u.finals[0].text.count, 10)
    }

    /// Blank wins every frame but "a" is never far behind (p(a)/p(blank) ≈ 0.05): with no speech, a
    /// stretch as long as an endpoint is dropped, so the beam search cannot settle on "a" (over 200
    /// frames the hypotheses with an "a" somewhere outweigh all-blank, as the control shows).
    func testLongStretchWithoutSpeechGivesNoFinal() throws {
        var m = Matrix(rows: 200, cols: vocab.count, repeating: -10)
        for t in 0..<200 { m[t, 0] = 0; m[t, 2] = -3 }
        func finals(_ endpoint: EndpointConfig) throws -> [String] {
            let stage = CTCStage(vocabulary: vocab, frameDuration: 0.03,
                                 decoder: .beam(lm: nil, options: CTCBeamSearchOptions()), endpoint: endpoint)
            let u = stage.process(m)
            return (u.finals + (stage.flush()).finals).map(\.text)
        }
        XCTAssertEqual(try finals(EndpointConfig(trailingSilence: 0.09, maxUtterance: 30)), [])
        XCTAssertEqual(try finals(EndpointConfig(trailingSilence: 0, maxUtterance: 0.3)), [])
        // Control, never cut: the beam settles on "aaaaaaaa" (each "a" pays e^-3 but gains 200 positions).
        XCTAssertTrue(try finals(EndpointConfig(trailingSilence: 0, maxUtterance: 0)).first?.hasPrefix("a") ?? false)
    }
}
