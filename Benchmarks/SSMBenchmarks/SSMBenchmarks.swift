// The ordo-one/benchmark suite: wall clock, throughput and malloc counts of the engine's hot paths.
//
//   swift package benchmark                                  # run, print tables
//   bash Benchmarks/scripts/benchmark_table.sh               # run, check, write Benchmarks/results/benchmarks.md
//
// Every benchmark runs in its own process (the harness's rule), single-threaded BLAS, flush-to-zero on,
// release build. The harness calls a benchmark's closure once per iteration, so each benchmark's model
// and inputs live in a lazy global (`…Bench`) built on first use, during the warm-up iterations. An
// iteration is one unit of streaming work: a layer step (one 30 ms output frame), three 10 ms feature
// frames through the whole encoder (one output frame), one feature frame, one CTC frame, one synthesis
// chunk, or one whole file.
//
// Benchmarks in the per-frame hot path use `hotPath` thresholds (zero mallocs in every iteration): a
// malloc fails `swift package benchmark thresholds check --path Benchmarks/Thresholds` (static p90
// thresholds `mallocCountTotal: 0`) and `Benchmarks/scripts/benchmark_table.sh`, which also checks p100.
import Benchmark
import Foundation
import SSMAudio
import SSMDecoding
import SSMFeatures
import SSMLayers
import SSMModels
import SSMSpeech
import SSMSynthesis
import SSMTensor
import SSMTestSupport

/// The repository root, from this file's path (the harness may run the benchmarks from elsewhere).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func resource(_ path: String) -> String { root.appendingPathComponent(path).path }

let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

/// Zero allocations in every iteration (p0…p100).
nonisolated(unsafe) let zeroMallocs: [BenchmarkMetric: BenchmarkThresholds] = [
    .mallocCountTotal: .init(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0]),
]

/// A per-frame configuration: many cheap iterations, bounded in time so that the suite stays short.
func frameConfig(hotPath: Bool, maxIterations: Int = 20_000, seconds: Int = 3, warmup: Int = 200) -> Benchmark.Configuration {
    .init(metrics: metrics, timeUnits: .nanoseconds, warmupIterations: warmup, scalingFactor: .one,
          maxDuration: .seconds(seconds), maxIterations: maxIterations, thresholds: hotPath ? zeroMallocs : nil,
          setup: { BLAS.setThreads(1); FloatingPoint.enableFlushToZero() })
}

// MARK: Shared inputs
//
// The fixtures below are globals used only by the benchmark closures, which the harness runs one at a
// time on one thread; `nonisolated(unsafe)` says so to Swift 6's checker.

/// 16 kHz samples of the shipped sample.
let sampleAudio: [Float] = try! AudioFile.read(path: resource("Resources/samples/sample.wav"), sampleRate: 16_000).samples
/// Its duration in seconds, from the header, for the benchmark's name (registration must stay cheap).
let sampleSeconds: String = {
    let file = try! SoundFile(path: resource("Resources/samples/sample.wav"))
    return String(format: "%.2f", file.duration)
}()
/// Its log-mel features `(T, 80)`.
let sampleFeatures: Matrix = LogMelExtractor.compute(sampleAudio)
let defaultModelName = (try? String(contentsOfFile: resource("Resources/models/DEFAULT"), encoding: .utf8))?
    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "mamba-30ms"
func loadEncoder(_ name: String, precision: MatrixPrecision = .float32) -> Encoder {
    try! Encoder(directory: resource("Resources/models/\(name)"), precision: precision)
}
/// The default model's logits over the sample `(L, V)`: real CTC input (mostly blanks, some symbols).
let sampleLogits: Matrix = loadEncoder(defaultModelName).forward(sampleFeatures)
let d = 256

// MARK: Layers, one recurrent step (random weights, reference initialisation, as `step-timing`)

final class LayerBench {
    let step: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    let x: FloatBuffer
    let y = FloatBuffer(count: d)
    var i = 0
    init(_ step: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void, rng: inout SeededRandom) {
        self.step = step
        x = FloatBuffer(rng.normals(d * 64))
    }
    func run() {
        step(x.pointer + (i & 63) * d, y.pointer)
        i &+= 1
    }
}

nonisolated(unsafe) let s4dBench: LayerBench = {
    var rng = SeededRandom(seed: 42)
    let s4d = try! S4D(WeightStore(tensors: RandomWeights.s4d(h: d, n: 64, rng: &rng)).scoped(""), dModel: d, config: .init(dState: 64))
    let state = s4d.makeState()
    return LayerBench({ s4d.step($0, state: state, into: $1) }, rng: &rng)
}()

nonisolated(unsafe) let mambaBench: LayerBench = {
    var rng = SeededRandom(seed: 42)
    let cfg = Mamba.Config(dState: 16, dConv: 4, expand: 2, dtRank: nil)
    let w = RandomWeights.mamba(d: d, n: 16, conv: 4, expand: 2, dtRank: cfg.resolvedDtRank(dModel: d), rng: &rng)
    let mamba = try! Mamba(WeightStore(tensors: w).scoped(""), dModel: d, config: cfg)
    let state = mamba.makeState()
    return LayerBench({ mamba.step($0, state: state, into: $1) }, rng: &rng)
}()

nonisolated(unsafe) let mamba2Bench: LayerBench = {
    var rng = SeededRandom(seed: 42)
    let cfg = Mamba2.Config(dState: 64, dConv: 4, expand: 2, headdim: 64, ngroups: 1)
    let w = RandomWeights.mamba2(d: d, n: 64, conv: 4, expand: 2, headdim: 64, ngroups: 1, rng: &rng)
    let layer = try! Mamba2(WeightStore(tensors: w).scoped(""), dModel: d, config: cfg)
    let state = layer.makeState()
    return LayerBench({ layer.step($0, state: state, into: $1) }, rng: &rng)
}()

nonisolated(unsafe) let s5Bench: LayerBench = {
    var rng = SeededRandom(seed: 42)
    let layer = try! S5(WeightStore(tensors: RandomWeights.s5(h: d, n: 256, rng: &rng)).scoped(""), dModel: d, config: .init(dState: 256))
    let state = layer.makeState()
    return LayerBench({ layer.step($0, state: state, into: $1) }, rng: &rng)
}()

/// The hybrid stack's attention block, its 64-frame ring buffer full (the steady state of a stream).
nonisolated(unsafe) let attentionBench: LayerBench = {
    var rng = SeededRandom(seed: 42)
    let layer = try! SlidingWindowAttention(WeightStore(tensors: RandomWeights.attention(prefix: "a", d: d, rng: &rng)).scoped("a"),
                                            dModel: d, config: .init(heads: 4, window: 64))
    let state = layer.makeState()
    _ = layer.forward(Matrix(rows: 64, cols: d, data: rng.normals(64 * d)), state: state)
    return LayerBench({ layer.step($0, state: state, into: $1) }, rng: &rng)
}()

// MARK: Whole encoders (shipped models): one output frame = `subsampling` (3) feature frames of 10 ms

final class EncoderBench {
    let enc: Encoder
    let state: Encoder.State
    let feats = FloatBuffer(sampleFeatures.data)
    let k: Int, usable: Int
    var t = 0
    init(_ name: String, precision: MatrixPrecision = .float32) {
        enc = loadEncoder(name, precision: precision)
        state = enc.makeState()
        k = enc.config.subsampling
        usable = sampleFeatures.rows - sampleFeatures.rows % k
    }
    func run() {
        var emitted = 0
        for _ in 0..<k {
            if enc.step(feats.pointer + t * enc.config.nMels, state: state) { emitted += 1 }
            t += 1
            if t == usable { t = 0 }
        }
        precondition(emitted == 1, "one output frame per iteration")
    }
}

nonisolated(unsafe) let encoderBenches: [String: EncoderBench] = ["mamba-30ms": EncoderBench("mamba-30ms"), "s4d-30ms": EncoderBench("s4d-30ms")]
/// The same models with int8 per-frame weights (`--precision int8`).
nonisolated(unsafe) let int8EncoderBenches: [String: EncoderBench] = ["mamba-30ms": EncoderBench("mamba-30ms", precision: .int8),
                                                  "s4d-30ms": EncoderBench("s4d-30ms", precision: .int8)]

// MARK: Many streams: `stepBatch` advances N streams by one output frame each per iteration

final class BatchBench {
    let enc: Encoder
    let streams: Int
    let scratch: Encoder.BatchScratch
    let states: [Encoder.State]
    /// (steps, streams, F): stream s reads the sample from its own offset.
    let batch: FloatBuffer
    let k: Int, steps: Int
    var t = 0
    init(streams: Int) {
        let enc = loadEncoder(defaultModelName)
        self.enc = enc
        self.streams = streams
        scratch = enc.makeBatchScratch(maxBatch: streams)
        states = (0..<streams).map { _ in enc.makeState() }
        k = enc.config.subsampling
        let f = enc.config.nMels, feats = sampleFeatures
        steps = (feats.rows / k) * k
        batch = FloatBuffer(count: steps * streams * f)
        for t in 0..<steps {
            for s in 0..<streams {
                let src = ((t + s * 7) % feats.rows) * f
                for j in 0..<f { batch.pointer[(t * streams + s) * f + j] = feats.data[src + j] }
            }
        }
    }
    func run() {
        let f = enc.config.nMels
        for _ in 0..<k {
            _ = enc.stepBatch(batch.pointer + t * streams * f, states: states, scratch: scratch)
            t += 1
            if t == steps { t = 0 }
        }
    }
}

nonisolated(unsafe) let batchBenches: [Int: BatchBench] = [16: BatchBench(streams: 16), 64: BatchBench(streams: 64)]

// MARK: Features: one 10 ms hop of samples in, one log-mel frame out

final class LogMelBench {
    let extractor = LogMelExtractor()
    let audio = FloatBuffer(sampleAudio)
    let hop: Int, hops: Int
    var h: Int
    var sink: Float = 0
    init() {
        hop = extractor.config.hopLength
        hops = audio.count / hop
        let prime = extractor.config.windowLength - hop  // after this, every hop completes a frame
        extractor.accept(UnsafeBufferPointer(start: audio.pointer, count: prime)) { _ in }
        h = prime / hop
    }
    func run() {
        var frames = 0
        extractor.accept(UnsafeBufferPointer(start: audio.pointer + h * hop, count: hop)) { frame in sink += frame[0]; frames += 1 }
        precondition(frames == 1, "one frame per hop")
        h += 1
        if h == hops { h = 0 }
    }
}

nonisolated(unsafe) let logMelBench = LogMelBench()

// MARK: CTC decoding, one encoder output frame of logits (the default model's logits over the sample)

final class GreedyBench {
    let logits = FloatBuffer(sampleLogits.data)
    let rows = sampleLogits.rows, v = sampleLogits.cols
    var decoder = CTCGreedyDecoder(blank: 0)
    var t = 0
    init() {
        // One pass first, so the hypothesis array has the capacity of a whole pass: `reset` keeps it.
        for t in 0..<rows { decoder.accept(UnsafeBufferPointer(start: logits.pointer + t * v, count: v)) }
        decoder.reset()
    }
    func run() {
        decoder.accept(UnsafeBufferPointer(start: logits.pointer + t * v, count: v))
        t += 1
        if t == rows { t = 0; decoder.reset() }
    }
}

nonisolated(unsafe) let greedyBench = GreedyBench()

final class BeamBench {
    let logits = FloatBuffer(sampleLogits.data)
    let rows = sampleLogits.rows, v = sampleLogits.cols
    var decoder: CTCPrefixBeamSearch
    var t = 0
    init() {
        let vocab = loadEncoder(defaultModelName).config.vocab
        var options = CTCBeamSearchOptions(beamWidth: 8)
        options.space = vocab.firstIndex(of: " ")
        decoder = CTCPrefixBeamSearch(vocabulary: vocab, lm: nil, options: options)
    }
    func run() {
        decoder.accept(UnsafeBufferPointer(start: logits.pointer + t * v, count: v))
        t += 1
        if t == rows { t = 0; decoder.reset() }
    }
}

nonisolated(unsafe) let beamBench = BeamBench()

// MARK: Whole-file transcription: samples → RecognitionStream (features, encoder, greedy CTC, endpoints)

let recognizer = SpeechRecognizer(encoder: loadEncoder(defaultModelName), decoder: .greedy)
nonisolated(unsafe) let recognitionStream = recognizer.makeStream()
func transcribeSample() -> String {
    let audio = sampleAudio, chunk = 1600  // 100 ms
    recognitionStream.reset()
    var i = 0
    while i < audio.count {
        recognitionStream.accept(samples: Array(audio[i..<min(audio.count, i + chunk)]), sampleRate: 16_000)
        i += chunk
    }
    return recognitionStream.finish().text
}

// MARK: Synthesis (Tests/Fixtures/tts_tiny): acoustic decoder and vocoder, one chunk of 4 frames (40 ms)

let ttsChunk = 4
nonisolated(unsafe) let tts = try! Synthesizer(directory: resource("Tests/Fixtures/tts_tiny"))

final class AcousticBench {
    let plan = tts.acoustic.prepare(tokens: try! tts.utterances("The birch canoe slid on the smooth planks.")[0])
    let state = tts.acoustic.makeState()
    let usable: Int
    var t = 0
    init() {
        usable = plan.frames - plan.frames % ttsChunk
        precondition(usable >= ttsChunk, "plan too short")
    }
    func run() {
        tts.acoustic.decode(plan, frames: t..<(t + ttsChunk), state: state)
        t += ttsChunk
        if t == usable { t = 0; state.reset() }
    }
}

nonisolated(unsafe) let acousticBench = AcousticBench()

final class VocoderBench {
    let mel: FloatBuffer
    let state = tts.vocoder.makeState()
    var sink: Float = 0
    init() {
        var rng = SeededRandom(seed: 3)
        mel = FloatBuffer(rng.normals(ttsChunk * tts.config.audio.nMels, scale: 0.5))
    }
    func run() {
        let out = tts.vocoder.process(mel.pointer, rows: ttsChunk, state: state)
        if let first = out.first { sink += first }
    }
}

nonisolated(unsafe) let vocoderBench = VocoderBench()

// MARK: Registration

let benchmarks: @Sendable () -> Void = {
    Benchmark("S4D step d256 N64 [30 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { s4dBench.run() }
    }
    Benchmark("Mamba step d256 E512 N16 [30 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { mambaBench.run() }
    }
    Benchmark("Mamba2 step d256 E512 H8 P64 N64 [30 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { mamba2Bench.run() }
    }
    Benchmark("S5 step d256 P256 [30 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { s5Bench.run() }
    }
    Benchmark("Sliding-window attention step d256 A4 W64 [30 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { attentionBench.run() }
    }
    for name in ["mamba-30ms", "s4d-30ms"] {
        let label = name == defaultModelName ? "\(name) default" : name
        Benchmark("Encoder step \(label) [30 ms]", configuration: frameConfig(hotPath: true, maxIterations: 10_000)) { b in
            let bench = encoderBenches[name]!
            for _ in b.scaledIterations { bench.run() }
        }
        Benchmark("Encoder step \(label) int8 [30 ms]", configuration: frameConfig(hotPath: true, maxIterations: 10_000)) { b in
            let bench = int8EncoderBenches[name]!
            for _ in b.scaledIterations { bench.run() }
        }
    }
    for streams in [16, 64] {
        Benchmark("Encoder stepBatch \(defaultModelName) x\(streams) streams [30 ms x\(streams)]",
                  configuration: frameConfig(hotPath: true, maxIterations: 5_000, warmup: 20)) { b in
            let bench = batchBenches[streams]!
            for _ in b.scaledIterations { bench.run() }
        }
    }
    Benchmark("LogMel frame 160 samples to 80 mels [10 ms]", configuration: frameConfig(hotPath: true)) { b in
        for _ in b.scaledIterations { logMelBench.run() }
    }
    Benchmark("CTC greedy frame [30 ms]", configuration: frameConfig(hotPath: true, maxIterations: 50_000, seconds: 2)) { b in
        for _ in b.scaledIterations { greedyBench.run() }
    }
    Benchmark("CTC prefix beam frame beam 8 no LM [30 ms]", configuration: frameConfig(hotPath: false)) { b in
        for _ in b.scaledIterations { beamBench.run() }
    }
    Benchmark("Transcribe sample.wav RecognitionStream greedy [\(sampleSeconds) s]",
              configuration: frameConfig(hotPath: false, maxIterations: 30, seconds: 15, warmup: 1)) { b in
        for _ in b.scaledIterations { blackHole(transcribeSample()) }
    }
    Benchmark("TTS acoustic decode tts_tiny 4 frames [40 ms]", configuration: frameConfig(hotPath: false, maxIterations: 10_000)) { b in
        for _ in b.scaledIterations { acousticBench.run() }
    }
    Benchmark("TTS vocoder tts_tiny 4 frames [40 ms]", configuration: frameConfig(hotPath: false, maxIterations: 10_000)) { b in
        for _ in b.scaledIterations { vocoderBench.run() }
    }
}
