import Foundation
import SSMTensor

/// The normalisation kinds a model config may name.
public enum NormKind: String, Codable, Sendable {
    case layernorm
    case rmsnorm
}

/// `nn.LayerNorm(D, eps)` (weight and bias) or `RMSNorm(D, eps)` (weight only, as in mamba_ssm).
public struct Norm {
    public let kind: NormKind
    public let dim: Int
    public let eps: Float
    /// (D)
    public let weight: [Float]
    /// (D) for LayerNorm, nil for RMSNorm.
    public let bias: [Float]?

    public init(kind: NormKind, dim: Int, weight: [Float], bias: [Float]?, eps: Float = 1e-5) {
        precondition(weight.count == dim, "Norm weight count mismatch")
        self.kind = kind
        self.dim = dim
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    /// Binds `<prefix>.weight (D)` and, for LayerNorm, `<prefix>.bias (D)`.
    public init(_ w: ScopedWeights, kind: NormKind, dim: Int, eps: Float = 1e-5) throws {
        self.init(kind: kind, dim: dim, weight: try w.take("weight", shape: [dim]),
                  bias: kind == .layernorm ? try w.take("bias", shape: [dim]) : nil, eps: eps)
    }

    /// y (D) = norm(x (D)). `x` and `y` may alias.
    @inline(__always)
    public func callAsFunction(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let n = dim
        switch kind {
        case .layernorm:
            var mean: Float = 0
            for i in 0..<n { mean += x[i] }
            mean /= Float(n)
            var variance: Float = 0
            for i in 0..<n { let d = x[i] - mean; variance += d * d }
            variance /= Float(n)
            let inv = 1 / sqrtf(variance + eps)
            weight.withUnsafeBufferPointer { w in
                bias!.withUnsafeBufferPointer { b in
                    for i in 0..<n { y[i] = (x[i] - mean) * inv * w[i] + b[i] }
                }
            }
        case .rmsnorm:
            var ms: Float = 0
            for i in 0..<n { ms += x[i] * x[i] }
            ms /= Float(n)
            let inv = 1 / sqrtf(ms + eps)
            weight.withUnsafeBufferPointer { w in
                for i in 0..<n { y[i] = x[i] * inv * w[i] }
            }
        }
    }

    /// Row-wise over a sequence (L, D).
    public func callAsFunction(_ x: Matrix) -> Matrix {
        precondition(x.cols == dim, "Norm expects width \(dim), got \(x.cols)")
        var y = x
        y.data.withUnsafeMutableBufferPointer { yp in
            for r in 0..<x.rows {
                let p = yp.baseAddress! + r * dim
                self(UnsafePointer(p), into: p)
            }
        }
        return y
    }
}
