// Many streams per core: the encoder advanced for N independent streams at once (`stepBatch`: every
// weight matrix applied to N rows with one SGEMM) against N separate `step` calls (N SGEMVs), one
// thread, release build, random weights in the shipped configurations (or --model PATH).
//
//   swift run -c release multistream [--model Resources/models/NAME] [--precision int8] [--streams 64,256]
//                                    [--batched-only]
//                                    [--out Benchmarks/results/multistream.csv]
//
// A stream needs 100 feature frames per second of audio, so with t µs per batched frame for N streams,
// one core carries N · 10 000 / t real-time streams.
import COpenBLAS
import Foundation
import SSMModels
import SSMTensor
import SSMTestSupport

BLAS.setThreads(1)
FloatingPoint.enableFlushToZero()
var out = "Benchmarks/results/multistream.csv"
var modelPath: String?
var precision = MatrixPrecision.float32
var streamCounts = [1, 2, 4, 8, 16, 32, 64, 128, 256]
var batchedOnly = false
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--out": out = it.next() ?? out
    case "--model": modelPath = it.next()
    case "--precision": precision = it.next().flatMap(MatrixPrecision.init(rawValue:)) ?? precision
    case "--batched-only": batchedOnly = true
    case "--streams": streamCounts = (it.next() ?? "").split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
    default: print("usage: multistream [--model PATH] [--precision float32|int8] [--streams N,N,...] [--batched-only] [--out FILE.csv]"); exit(2)
    }
}

let vocab = ["<blank>", " ", "'"] + (97...122).map { String(UnicodeScalar(UInt8($0))) }
var encoders: [(String, Encoder)] = []
if let modelPath {
    encoders.append(((modelPath as NSString).lastPathComponent, try Encoder(directory: modelPath, precision: precision)))
} else {
    for (label, cfg) in [
        ("s4d d256x6 N64 FFNx2", EncoderConfig(mixer: .s4d, dModel: 256, layers: 6, norm: .layernorm, ffnMult: 2,
                                               subsampleStrides: [3, 1], s4d: .init(dState: 64), vocab: vocab)),
        ("mamba d256x6 E256 N8 FFNx2", EncoderConfig(mixer: .mamba, dModel: 256, layers: 6, norm: .layernorm, ffnMult: 2,
                                                     subsampleStrides: [3, 1],
                                                     mamba: .init(dState: 8, dConv: 4, expand: 1, dtRank: 16), vocab: vocab)),
    ] {
        let store = WeightStore(tensors: RandomWeights.encoderTensors(cfg, seed: 5), precision: precision)
        encoders.append((label, try Encoder(config: cfg, weights: store)))
    }
}

/// sgemv read bandwidth (GB/s) over a matrix of `floats` weights, the layout the encoder's step uses.
func sgemvBandwidth(floats: Int) -> Double {
    let cols = 512, rowsN = max(1, floats / cols)
    let w = [Float](repeating: 0.01, count: rowsN * cols), x = [Float](repeating: 1, count: cols)
    var y = [Float](repeating: 0, count: rowsN)
    var best = Double.infinity
    for _ in 0..<30 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rowsN), Int32(cols), 1, w, Int32(cols), x, 1, 0, &y, 1)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
    }
    return Double(rowsN * cols * 4) / best // bytes per ns = GB/s
}

var singleStreamUs: [String: Double] = [:]
var rows = ["model,streams,batched_us_per_frame,separate_us_per_frame,batched_streams_per_core,separate_streams_per_core"]
var rng = SeededRandom(seed: 9)
let feats = rng.normals(80 * 256 * 4)
for (label, enc) in encoders {
    print("\(label) (\(enc.parameterCount) parameters)")
    print("  streams   batched µs/frame   separate µs/frame   real-time streams per core: batched   separate")
    for n in streamCounts {
        let frames = max(60, 2400 / n)
        let scratch = enc.makeBatchScratch(maxBatch: n)
        let batchStates = (0..<n).map { _ in enc.makeState() }
        let soloStates = (0..<n).map { _ in enc.makeState() }
        func run(_ body: (Int) -> Void) -> Double {
            for t in 0..<12 { body(t) } // warm-up, and a few output frames
            var best = Double.infinity
            for _ in 0..<3 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                for t in 0..<frames { body(t) }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000 / Double(frames))
            }
            return best
        }
        let batched = feats.withUnsafeBufferPointer { p in
            run { t in _ = enc.stepBatch(p.baseAddress! + ((t * n) % 256) * 80, states: batchStates, scratch: scratch) }
        }
        let separate = batchedOnly ? .nan : feats.withUnsafeBufferPointer { p in
            run { t in for (i, s) in soloStates.enumerated() { _ = enc.step(p.baseAddress! + ((t * n + i) % 1024) * 80, state: s) } }
        }
        let cap = { (us: Double) in Double(n) * 10_000 / us }
        if n == 1 { singleStreamUs[label] = separate }
        print(String(format: "  %7d   %16.1f   %17.1f   %34.0f   %8.0f", n, batched, separate, cap(batched), cap(separate)))
        let separateCap = separate.isFinite ? "\(Int(cap(separate)))" : ""
        let separateUs = separate.isFinite ? String(format: "%.2f", separate) : ""
        rows.append("\(label),\(n),\(String(format: "%.2f", batched)),\(separateUs),\(Int(cap(batched))),\(separateCap)")
    }
}
// The memory-bandwidth floor of one stream: every output frame reads all weights once.
for (label, enc) in encoders {
    // int8 keeps one byte per matrix weight (the few vectors, norms and biases stay float32; ignored)
    let bytes = Double(enc.parameterCount * (enc.precision == .int8 ? 1 : 4))
    let gbps = sgemvBandwidth(floats: enc.parameterCount)
    let floorUs = bytes / gbps / 1000
    guard let single = singleStreamUs[label], single.isFinite else { continue } // needs the N = 1 separate run
    let measuredUs = single * Double(enc.config.subsampling) // per output frame
    print(String(format: "%@ (\(enc.precision.rawValue)): weights %.1f MB, sgemv bandwidth %.1f GB/s → floor %.0f µs per output frame; measured %.0f µs (%.2f× the floor)",
                 label, bytes / 1e6, gbps, floorUs, measuredUs, measuredUs / floorUs))
}
try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
try (rows.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
print("wrote \(out)")
