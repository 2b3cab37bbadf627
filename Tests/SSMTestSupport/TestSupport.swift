import Foundation
import SSMLayers
import SSMModels
import SSMTensor

/// A small deterministic PRNG (SplitMix64) so that random-weight tests are reproducible.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { Float.random(in: lo..<hi, using: &self) }
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double.random(in: 0..<1, using: &self), 1e-12), u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
    public mutating func normals(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in normal() * scale } }
    public mutating func uniforms(_ n: Int, _ lo: Float, _ hi: Float) -> [Float] { (0..<n).map { _ in uniform(lo, hi) } }
    public mutating func matrix(_ rows: Int, _ cols: Int, scale: Float = 1) -> Matrix {
        Matrix(rows: rows, cols: cols, data: normals(rows * cols, scale: scale))
    }
}

/// Locations of shared test data.
public enum Fixtures {
    /// `Tests/Fixtures`, found relative to this source file.
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Loads `<name>.safetensors` exported by `Training/export_fixtures.py`.
    public static func tensors(_ name: String) throws -> [String: NamedTensor] {
        try SafeTensors.read(path: path(name + ".safetensors"))
    }

    /// Loads `<name>.json`.
    public static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// A tensor as a 2-D matrix (1-D tensors become one row).
    public static func matrix(_ t: NamedTensor) -> Matrix {
        let cols = t.shape.last ?? 1
        return Matrix(rows: t.count / max(cols, 1), cols: cols, data: t.values)
    }
}

/// Builders of randomly initialised weights under the reference names, for equivalence tests.
public enum RandomWeights {
    /// S4D with the reference's initialisation (log_dt ∈ [log 1e-3, log 1e-1], A = −0.5 + iπn) and random C, D.
    public static func s4d(prefix: String = "", h: Int, n: Int, rng: inout SeededRandom) -> [String: NamedTensor] {
        let p = prefix.isEmpty ? "" : prefix + "."
        let n2 = n / 2
        return [
            p + "D": NamedTensor(shape: [h], values: rng.normals(h)),
            p + "kernel.C": NamedTensor(shape: [h, n2, 2], values: rng.normals(h * n2 * 2, scale: 0.7)),
            p + "kernel.log_dt": NamedTensor(shape: [h], values: rng.uniforms(h, logf(0.001), logf(0.1))),
            p + "kernel.log_A_real": NamedTensor(shape: [h, n2], values: (0..<(h * n2)).map { _ in logf(0.5) + rng.uniform(-0.5, 0.5) }),
            p + "kernel.A_imag": NamedTensor(shape: [h, n2], values: (0..<(h * n2)).map { Float.pi * Float($0 % n2) }),
            p + "output_linear.0.weight": NamedTensor(shape: [2 * h, h, 1], values: rng.normals(2 * h * h, scale: 1 / Float(h).squareRoot())),
            p + "output_linear.0.bias": NamedTensor(shape: [2 * h], values: rng.normals(2 * h, scale: 0.1)),
        ]
    }

    /// Mamba with the reference's initialisation (A_log = log(1…N), dt bias = softplus⁻¹(dt), dt ∈ [1e-3, 1e-1]).
    public static func mamba(prefix: String = "", d: Int, n: Int, conv: Int, expand: Int, dtRank r: Int,
                             rng: inout SeededRandom) -> [String: NamedTensor] {
        let p = prefix.isEmpty ? "" : prefix + "."
        let e = expand * d
        let dt = (0..<e).map { _ in expf(rng.uniform(logf(0.001), logf(0.1))) }
        return [
            p + "in_proj.weight": NamedTensor(shape: [2 * e, d], values: rng.normals(2 * e * d, scale: 1 / Float(d).squareRoot())),
            p + "conv1d.weight": NamedTensor(shape: [e, 1, conv], values: rng.normals(e * conv, scale: 0.5)),
            p + "conv1d.bias": NamedTensor(shape: [e], values: rng.normals(e, scale: 0.1)),
            p + "x_proj.weight": NamedTensor(shape: [r + 2 * n, e], values: rng.normals((r + 2 * n) * e, scale: 1 / Float(e).squareRoot())),
            p + "dt_proj.weight": NamedTensor(shape: [e, r], values: rng.uniforms(e * r, -1 / Float(r).squareRoot(), 1 / Float(r).squareRoot())),
            p + "dt_proj.bias": NamedTensor(shape: [e], values: dt.map { $0 + logf(-expm1f(-$0)) }),
            p + "A_log": NamedTensor(shape: [e, n], values: (0..<(e * n)).map { logf(Float($0 % n + 1)) }),
            p + "D": NamedTensor(shape: [e], values: [Float](repeating: 1, count: e)),
            p + "out_proj.weight": NamedTensor(shape: [d, e], values: rng.normals(d * e, scale: 1 / Float(e).squareRoot())),
        ]
    }

    /// Mamba-2 with the reference's initialisation (A = U(1, 16) per head, dt bias = softplus⁻¹(dt),
    /// dt ∈ [1e-3, 1e-1]), plus a gated-norm weight near 1.
    public static func mamba2(prefix: String = "", d: Int, n: Int, conv: Int, expand: Int, headdim: Int, ngroups g: Int,
                              rng: inout SeededRandom) -> [String: NamedTensor] {
        let p = prefix.isEmpty ? "" : prefix + "."
        let e = expand * d, h = e / headdim, c = e + 2 * g * n, k = 2 * e + 2 * g * n + h
        let dt = (0..<h).map { _ in expf(rng.uniform(logf(0.001), logf(0.1))) }
        return [
            p + "in_proj.weight": NamedTensor(shape: [k, d], values: rng.normals(k * d, scale: 1 / Float(d).squareRoot())),
            p + "conv1d.weight": NamedTensor(shape: [c, 1, conv], values: rng.normals(c * conv, scale: 0.5)),
            p + "conv1d.bias": NamedTensor(shape: [c], values: rng.normals(c, scale: 0.1)),
            p + "dt_bias": NamedTensor(shape: [h], values: dt.map { $0 + logf(-expm1f(-$0)) }),
            p + "A_log": NamedTensor(shape: [h], values: (0..<h).map { _ in logf(rng.uniform(1, 16)) }),
            p + "D": NamedTensor(shape: [h], values: (0..<h).map { _ in 1 + rng.uniform(-0.3, 0.3) }),
            p + "norm.weight": NamedTensor(shape: [e], values: (0..<e).map { _ in 1 + rng.uniform(-0.2, 0.2) }),
            p + "out_proj.weight": NamedTensor(shape: [d, e], values: rng.normals(d * e, scale: 1 / Float(e).squareRoot())),
        ]
    }

    /// S5 with P/2 = n/2 modes: Re(Λ) ∈ [−1, −0.1], Im(Λ) spread like HiPPO-N's, Δ ∈ [1e-3, 1e-1].
    public static func s5(prefix: String = "", h: Int, n: Int, rng: inout SeededRandom) -> [String: NamedTensor] {
        let p = prefix.isEmpty ? "" : prefix + "."
        let m = n / 2
        return [
            p + "Lambda_re": NamedTensor(shape: [m], values: (0..<m).map { _ in rng.uniform(-1, -0.1) }),
            p + "Lambda_im": NamedTensor(shape: [m], values: (0..<m).map { -Float.pi * Float($0 + 1) }),
            p + "B": NamedTensor(shape: [m, h, 2], values: rng.normals(m * h * 2, scale: 1 / Float(h).squareRoot())),
            p + "C": NamedTensor(shape: [h, m, 2], values: rng.normals(h * m * 2, scale: 1 / Float(m).squareRoot())),
            p + "D": NamedTensor(shape: [h], values: rng.normals(h)),
            p + "log_step": NamedTensor(shape: [m, 1], values: rng.uniforms(m, logf(0.001), logf(0.1))),
            p + "output_linear.0.weight": NamedTensor(shape: [2 * h, h, 1], values: rng.normals(2 * h * h, scale: 1 / Float(h).squareRoot())),
            p + "output_linear.0.bias": NamedTensor(shape: [2 * h], values: rng.normals(2 * h, scale: 0.1)),
        ]
    }

    /// Sliding-window attention (`in_proj (3D, D)`, `out_proj (D, D)`, both with biases).
    public static func attention(prefix: String, d: Int, rng: inout SeededRandom) -> [String: NamedTensor] {
        linear(prefix: prefix + ".in_proj", out: 3 * d, in: d, bias: true, rng: &rng)
            .merging(linear(prefix: prefix + ".out_proj", out: d, in: d, bias: true, rng: &rng)) { $1 }
    }

    public static func norm(prefix: String, d: Int, layerNorm: Bool, rng: inout SeededRandom) -> [String: NamedTensor] {
        var t = [prefix + ".weight": NamedTensor(shape: [d], values: (0..<d).map { _ in 1 + rng.uniform(-0.2, 0.2) })]
        if layerNorm { t[prefix + ".bias"] = NamedTensor(shape: [d], values: rng.normals(d, scale: 0.1)) }
        return t
    }

    public static func linear(prefix: String, out: Int, in inDim: Int, bias: Bool, rng: inout SeededRandom) -> [String: NamedTensor] {
        var t = [prefix + ".weight": NamedTensor(shape: [out, inDim], values: rng.normals(out * inDim, scale: 1 / Float(inDim).squareRoot()))]
        if bias { t[prefix + ".bias"] = NamedTensor(shape: [out], values: rng.normals(out, scale: 0.1)) }
        return t
    }

    /// Random weights for a full encoder under the checkpoint names of Docs/ARCHITECTURE.md.
    public static func encoder(_ c: EncoderConfig, seed: UInt64) throws -> Encoder {
        try Encoder(config: c, weights: WeightStore(tensors: encoderTensors(c, seed: seed)))
    }

    /// The tensors behind `encoder(_:seed:)`, e.g. to write a model folder.
    /// Writes a model folder (`config.json`, `model.safetensors`) with random weights for `c` at `dir`;
    /// `blankBias` is added to the CTC blank's bias (a likelier blank gives pauses and endpoints).
    public static func writeModelFolder(_ c: EncoderConfig, seed: UInt64, blankBias: Float = 0, at dir: URL) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try JSONEncoder().encode(c).write(to: dir.appendingPathComponent("config.json"))
        var t = encoderTensors(c, seed: seed)
        t["ctc_head.bias"]!.values[0] += blankBias
        try SafeTensors.serialize(t).write(to: dir.appendingPathComponent("model.safetensors"))
        return dir.path
    }

    public static func encoderTensors(_ c: EncoderConfig, seed: UInt64) -> [String: NamedTensor] {
        var rng = SeededRandom(seed: seed)
        let d = c.dModel, f = c.nMels, k = c.subsampleKernel, v = c.vocab.count
        var t: [String: NamedTensor] = [
            "feature_norm.mean": NamedTensor(shape: [f], values: rng.normals(f)),
            "feature_norm.std": NamedTensor(shape: [f], values: rng.uniforms(f, 0.5, 2)),
            "subsample.conv1.weight": NamedTensor(shape: [d, f, k], values: rng.normals(d * f * k, scale: 1 / Float(f * k).squareRoot())),
            "subsample.conv1.bias": NamedTensor(shape: [d], values: rng.normals(d, scale: 0.1)),
            "subsample.conv2.weight": NamedTensor(shape: [d, d, k], values: rng.normals(d * d * k, scale: 1 / Float(d * k).squareRoot())),
            "subsample.conv2.bias": NamedTensor(shape: [d], values: rng.normals(d, scale: 0.1)),
        ]
        let ln = c.norm == .layernorm
        for i in 0..<c.layers {
            t.merge(RandomWeights.norm(prefix: "layers.\(i).norm", d: d, layerNorm: ln, rng: &rng)) { $1 }
            switch c.mixer {
            case .hybrid where c.hybrid!.isAttention(layer: i):
                t.merge(RandomWeights.attention(prefix: "layers.\(i).mixer", d: d, rng: &rng)) { $1 }
            case .s4d: t.merge(RandomWeights.s4d(prefix: "layers.\(i).mixer", h: d, n: c.s4d!.dState, rng: &rng)) { $1 }
            case .mamba, .hybrid:
                let m = c.mamba!
                t.merge(RandomWeights.mamba(prefix: "layers.\(i).mixer", d: d, n: m.dState, conv: m.dConv, expand: m.expand,
                                            dtRank: m.resolvedDtRank(dModel: d), rng: &rng)) { $1 }
            case .mamba2:
                let m = c.mamba2!
                t.merge(RandomWeights.mamba2(prefix: "layers.\(i).mixer", d: d, n: m.dState, conv: m.dConv, expand: m.expand,
                                             headdim: m.headdim, ngroups: m.ngroups, rng: &rng)) { $1 }
            case .s5: t.merge(RandomWeights.s5(prefix: "layers.\(i).mixer", h: d, n: c.s5!.dState, rng: &rng)) { $1 }
            }
            if c.ffnMult > 0 {
                t.merge(RandomWeights.norm(prefix: "layers.\(i).ffn_norm", d: d, layerNorm: ln, rng: &rng)) { $1 }
                t.merge(RandomWeights.linear(prefix: "layers.\(i).ffn.fc1", out: c.ffnMult * d, in: d, bias: true, rng: &rng)) { $1 }
                t.merge(RandomWeights.linear(prefix: "layers.\(i).ffn.fc2", out: d, in: c.ffnMult * d, bias: true, rng: &rng)) { $1 }
            }
        }
        t.merge(RandomWeights.norm(prefix: "norm_f", d: d, layerNorm: ln, rng: &rng)) { $1 }
        t.merge(RandomWeights.linear(prefix: "ctc_head", out: v, in: d, bias: true, rng: &rng)) { $1 }
        return t
    }

}

/// Writes `bytes` to `fd` the way a real producer might: pieces of random size (30 % of them tiny,
/// 1…`tinyMax` bytes, the rest 1…`largeMax`), with a pause of up to `maxPauseMicros` after a fraction
/// `pauseChance` of them. Stops early if the reader goes away. Does not close `fd`.
public func writeInRandomPieces(_ bytes: [UInt8], to fd: Int32, seed: UInt64, tinyMax: Float, largeMax: Float,
                                pauseChance: Float, maxPauseMicros: Float) {
    var rng = SeededRandom(seed: seed)
    var off = 0
    while off < bytes.count {
        let n = min(bytes.count - off, 1 + Int(rng.uniform(0, 1) < 0.3 ? rng.uniform(0, tinyMax) : rng.uniform(0, largeMax)))
        let w = bytes[off..<(off + n)].withUnsafeBytes { write(fd, $0.baseAddress, n) }
        if w <= 0 { break }
        off += w
        if rng.uniform(0, 1) < pauseChance { usleep(UInt32(rng.uniform(0, maxPauseMicros))) }
    }
}

/// A value shared with another queue or thread (the tests synchronise through semaphores and groups).
public final class Shared<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}
