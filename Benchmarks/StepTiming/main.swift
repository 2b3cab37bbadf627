// Times the per-frame recurrent step of S4D and Mamba layers (random weights, reference
// initialisation) and of a full encoder, single-threaded. Usage:
//   swift run -c release step-timing [d_model] [frames]
import Foundation
import SSMLayers
import SSMModels
import SSMTensor
import SSMTestSupport

BLAS.setThreads(1)
let args = CommandLine.arguments
let d = args.count > 1 ? Int(args[1]) ?? 256 : 256
let frames = args.count > 2 ? Int(args[2]) ?? 20_000 : 20_000

func measure(_ label: String, params: Int, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    var rng = SeededRandom(seed: 1)
    let x = rng.normals(d * 64)
    var y = [Float](repeating: 0, count: d * 2)
    x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
        for i in 0..<1000 { body(xp.baseAddress! + (i % 64) * d, yp.baseAddress!) } // warm-up
        var samples: [Double] = []
        let reps = 5
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<frames { body(xp.baseAddress! + (i % 64) * d, yp.baseAddress!) }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(frames) / 1000)
        }
        samples.sort()
        print(String(format: "%-34@ params %9d   step median %7.2f µs   min %7.2f µs   (%d frames × %d runs)",
                     label as NSString, params, samples[reps / 2], samples[0], frames, reps))
    }}
}

var rng = SeededRandom(seed: 42)
let mambaCfg = Mamba.Config(dState: 16, dConv: 4, expand: 2, dtRank: nil)
let mambaW = RandomWeights.mamba(d: d, n: 16, conv: 4, expand: 2, dtRank: mambaCfg.resolvedDtRank(dModel: d), rng: &rng)
let mamba = try Mamba(WeightStore(tensors: mambaW).scoped(""), dModel: d, config: mambaCfg)
let ms = mamba.makeState()
measure("Mamba d_model \(d) (E=\(2 * d), N=16)", params: mambaW.values.reduce(0) { $0 + $1.count }) { mamba.step($0, state: ms, into: $1) }

let s4dW = RandomWeights.s4d(h: d, n: 64, rng: &rng)
let s4d = try S4D(WeightStore(tensors: s4dW).scoped(""), dModel: d, config: .init(dState: 64))
let ss = s4d.makeState()
measure("S4D d_model \(d) (N=64)", params: s4dW.values.reduce(0) { $0 + $1.count }) { s4d.step($0, state: ss, into: $1) }

// Silence: states decay into subnormal floats; flush-to-zero keeps the step at full speed.
let zeros = [Float](repeating: 0, count: d)
for ftz in [false, true] {
    if ftz { FloatingPoint.enableFlushToZero() }
    ss.reset()
    zeros.withUnsafeBufferPointer { z in
        var y = [Float](repeating: 0, count: d)
        s4d.step(Array(repeating: 1, count: d), state: ss, into: &y)
        for _ in 0..<3000 { s4d.step(z.baseAddress!, state: ss, into: &y) }
    }
    measure("S4D silence, flush-to-zero \(ftz ? "on " : "off")", params: 0) { _, y in zeros.withUnsafeBufferPointer { s4d.step($0.baseAddress!, state: ss, into: y) } }
}

// Full encoders in the recipe's configurations (random weights): one call per 10 ms feature frame,
// so the per-frame figure × 100 is the encoder's compute per second of audio.
let vocab = ["<blank>", " ", "'"] + (97...122).map { String(UnicodeScalar(UInt8($0))) }
let encoderConfigs: [(String, EncoderConfig)] = [
    ("encoder S4D d256×6 N64 FFN×2", EncoderConfig(mixer: .s4d, dModel: d, layers: 6, norm: .layernorm, ffnMult: 2,
                                                    s4d: .init(dState: 64), vocab: vocab)),
    ("encoder Mamba d256×6 E256 N8 FFN×2", EncoderConfig(mixer: .mamba, dModel: d, layers: 6, norm: .layernorm, ffnMult: 2,
                                                          mamba: .init(dState: 8, dConv: 4, expand: 1, dtRank: 16), vocab: vocab)),
]
for (label, cfg) in encoderConfigs {
    let tensors = RandomWeights.encoderTensors(cfg, seed: 5)
    let enc = try Encoder(config: cfg, weights: WeightStore(tensors: tensors))
    let st = enc.makeState()
    var rng2 = SeededRandom(seed: 9)
    let feats = rng2.normals(80 * 64)
    var t0 = DispatchTime.now().uptimeNanoseconds
    var samples: [Double] = []
    feats.withUnsafeBufferPointer { f in
        for rep in 0..<6 {
            t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<(frames / 4) { _ = enc.step(f.baseAddress! + (i % 64) * 80, state: st) }
            if rep > 0 { samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(frames / 4) / 1000) }
        }
    }
    samples.sort()
    print(String(format: "%-34@ params %9d   per 10 ms frame median %7.2f µs  → encoder RTF %.4f",
                 label as NSString, enc.parameterCount, samples[2], samples[2] * 100 / 1e6))
}
