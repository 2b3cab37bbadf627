// The scaling proof: per-step cost and state memory against stream length for causal attention
// (KV cache), S4D, Mamba, Mamba-2, S5 and sliding-window attention (the hybrid stack's attention block)
// at the same width, one thread, release build.
//
//   swift run -c release scaling [--out Benchmarks/results/scaling.csv] [--max-seconds 3600]
//
// Frames are 30 ms (the shipped models' rate). The SSM layers run every frame of the stream for real;
// their state is a fixed set of buffers. Attention's cache is filled with random keys and values up to
// each length (running every step would cost O(T²) just to get there), then the steps are timed.
// Writes CSV `layer,seconds,frames,step_us_median,state_bytes` (plot: Benchmarks/scripts/plot_scaling.py).
import Foundation
import SSMBaselines
import SSMLayers
import SSMTensor
import SSMTestSupport

BLAS.setThreads(1)
FloatingPoint.enableFlushToZero()
var out = "Benchmarks/results/scaling.csv"
var maxSeconds = 3600.0
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--out": out = it.next() ?? out
    case "--max-seconds": maxSeconds = Double(it.next() ?? "") ?? maxSeconds
    default: print("usage: scaling [--out FILE.csv] [--max-seconds S]"); exit(2)
    }
}

let d = 256, frameSeconds = 0.03, timedSteps = 200
let lengths = [1.0, 10, 60, 300, 1200, 3600].filter { $0 <= maxSeconds }
var rng = SeededRandom(seed: 7)
let inputs = rng.normals(d * 64)
var y = [Float](repeating: 0, count: d)
var rows: [String] = ["layer,seconds,frames,step_us_median,state_bytes"]

/// Median over 20 groups of the mean µs per step of 10 calls of `body`; `beforeGroup` runs untimed
/// before each group (attention rewinds its cache there, so every group starts at the same length).
func timeSteps(beforeGroup: () -> Void = {}, _ body: (UnsafePointer<Float>) -> Void) -> Double {
    var groups: [Double] = []
    inputs.withUnsafeBufferPointer { xp in
        for g in 0..<20 {
            beforeGroup()
            let t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<10 { body(xp.baseAddress! + ((g * 10 + i) % 64) * d) }
            groups.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000 / 10)
        }
    }
    return groups.sorted()[10]
}

@MainActor func record(_ layer: String, _ seconds: Double, _ us: Double, _ bytes: Int) {
    let frames = Int(seconds / frameSeconds)
    rows.append("\(layer),\(seconds),\(frames),\(String(format: "%.3f", us)),\(bytes)")
    print(String(format: "%-10@ %7.0f s (%7d frames)  step %9.2f µs   state %12d bytes", layer as NSString, seconds, frames, us, bytes))
}

// S4D (N = 64): state is H · N/2 complex numbers = H · N floats.
let s4dW = RandomWeights.s4d(h: d, n: 64, rng: &rng)
let s4d = try S4D(WeightStore(tensors: s4dW).scoped(""), dModel: d, config: .init(dState: 64))
// Mamba (E = 2D, N = 16, conv 4): state is E · (d_conv) + E · N floats.
let mcfg = Mamba.Config(dState: 16, dConv: 4, expand: 2, dtRank: nil)
let mamba = try Mamba(WeightStore(tensors: RandomWeights.mamba(d: d, n: 16, conv: 4, expand: 2,
                                                               dtRank: mcfg.resolvedDtRank(dModel: d), rng: &rng)).scoped(""),
                      dModel: d, config: mcfg)
// Mamba-2 (E = 2D, P = 64 so H = 8 heads, N = 64, one group, conv 4): state is (E + 2N) · 4 + H · P · N floats.
let m2cfg = Mamba2.Config(dState: 64, dConv: 4, expand: 2, headdim: 64, ngroups: 1)
let mamba2 = try Mamba2(WeightStore(tensors: RandomWeights.mamba2(d: d, n: 64, conv: 4, expand: 2, headdim: 64, ngroups: 1,
                                                                  rng: &rng)).scoped(""), dModel: d, config: m2cfg)
// S5 (P = 256 complex state size, P/2 modes stored as re/im): state is P floats for the whole layer.
let s5 = try S5(WeightStore(tensors: RandomWeights.s5(h: d, n: 256, rng: &rng)).scoped(""), dModel: d, config: .init(dState: 256))
// Sliding-window attention (the hybrid stack's attention block: 4 heads, W = 64 frames = 1.9 s): its
// ring buffer holds 2 · W · D floats, however long the stream.
let swa = try SlidingWindowAttention(WeightStore(tensors: RandomWeights.attention(prefix: "a", d: d, rng: &rng)).scoped("a"),
                                     dModel: d, config: .init(heads: 4, window: 64))
for (name, stateFloats, step) in [
    ("s4d", d * 64, { () -> (UnsafePointer<Float>) -> Void in let st = s4d.makeState(); return { x in y.withUnsafeMutableBufferPointer { s4d.step(x, state: st, into: $0.baseAddress!) } } }()),
    ("mamba", 2 * d * (4 + 16), { () -> (UnsafePointer<Float>) -> Void in let st = mamba.makeState(); return { x in y.withUnsafeMutableBufferPointer { mamba.step(x, state: st, into: $0.baseAddress!) } } }()),
    ("mamba2", (2 * d + 2 * 64) * 4 + 2 * d * 64, { () -> (UnsafePointer<Float>) -> Void in let st = mamba2.makeState(); return { x in y.withUnsafeMutableBufferPointer { mamba2.step(x, state: st, into: $0.baseAddress!) } } }()),
    ("window-attn", 2 * 64 * d, { () -> (UnsafePointer<Float>) -> Void in let st = swa.makeState(); return { x in y.withUnsafeMutableBufferPointer { swa.step(x, state: st, into: $0.baseAddress!) } } }()),
    ("s5", 256, { () -> (UnsafePointer<Float>) -> Void in let st = s5.makeState(); return { x in y.withUnsafeMutableBufferPointer { s5.step(x, state: st, into: $0.baseAddress!) } } }()),
] as [(String, Int, (UnsafePointer<Float>) -> Void)] {
    var done = 0
    for seconds in lengths {
        let frames = Int(seconds / frameSeconds)
        // Run the stream up to this length for real (every frame), then time the next steps.
        inputs.withUnsafeBufferPointer { xp in
            while done < frames - timedSteps { step(xp.baseAddress! + (done % 64) * d); done += 1 }
        }
        let us = timeSteps(step)
        done += timedSteps
        record(name, seconds, us, stateFloats * 4)
    }
}

// Causal attention, 4 heads, KV cache.
var attW: [String: NamedTensor] = [:]
attW["in_proj_weight"] = NamedTensor(shape: [3 * d, d], values: rng.normals(3 * d * d, scale: 1 / Float(d).squareRoot()))
attW["in_proj_bias"] = NamedTensor(shape: [3 * d], values: [Float](repeating: 0, count: 3 * d))
attW["out_proj.weight"] = NamedTensor(shape: [d, d], values: rng.normals(d * d, scale: 1 / Float(d).squareRoot()))
attW["out_proj.bias"] = NamedTensor(shape: [d], values: [Float](repeating: 0, count: d))
let att = try CausalAttention(WeightStore(tensors: attW).scoped(""), dModel: d, heads: 4)
let ast = att.makeState(capacity: Int(lengths.last! / frameSeconds) + timedSteps + 1)
let kv = rng.normals(d * 64)
for seconds in lengths {
    let frames = Int(seconds / frameSeconds)
    kv.withUnsafeBufferPointer { p in
        while ast.length < frames {
            let r = ast.length % 63
            ast.appendRaw(key: p.baseAddress! + r * d, value: p.baseAddress! + (r + 1) * d)
        }
    }
    let bytes = ast.cacheBytes
    let us = timeSteps(beforeGroup: { ast.truncate(to: frames) }) { x in
        y.withUnsafeMutableBufferPointer { att.step(x, state: ast, into: $0.baseAddress!) }
    }
    ast.truncate(to: frames)
    record("attention", seconds, us, bytes)
}

try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
try (rows.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
print("wrote \(out)")
