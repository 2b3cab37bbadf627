import SSMTensor

/// `nn.Linear`: y = W·x + b, computed with OpenBLAS (sgemv per frame, sgemm per sequence), or with
/// int8 weights per frame when built with `MatrixPrecision.int8`.
public struct Linear {
    public let inFeatures: Int
    public let outFeatures: Int
    /// (out, in) row-major.
    public let weight: [Float]
    /// (out), or nil.
    public let bias: [Float]?
    /// (out, in) int8 copy of `weight` used by the per-frame product, or nil (float32).
    public let quantized: QuantizedMatrix?

    public init(inFeatures: Int, outFeatures: Int, weight: [Float], bias: [Float]?,
                precision: MatrixPrecision = .float32) {
        precondition(weight.count == inFeatures * outFeatures, "Linear weight count mismatch")
        precondition(bias == nil || bias!.count == outFeatures, "Linear bias count mismatch")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = weight
        self.bias = bias
        quantized = precision == .int8 ? QuantizedMatrix(quantizing: weight, rows: outFeatures, cols: inFeatures) : nil
    }

    /// Binds `<prefix>.weight (out, in)` and, if `bias`, `<prefix>.bias (out)`, at the store's precision.
    public init(_ w: ScopedWeights, inFeatures: Int, outFeatures: Int, bias: Bool) throws {
        self.init(inFeatures: inFeatures, outFeatures: outFeatures,
                  weight: try w.take("weight", shape: [outFeatures, inFeatures]),
                  bias: bias ? try w.take("bias", shape: [outFeatures]) : nil,
                  precision: w.store.matrixPrecision)
    }

    /// One frame: y (out) = W·x (in) + b. Allocates nothing.
    @inline(__always)
    public func callAsFunction(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        if let b = bias { b.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: outFeatures) } }
        if let q = quantized {
            q.gemv(x, into: y, accumulate: bias != nil)
        } else {
            weight.withUnsafeBufferPointer { w in
                BLAS.gemv(w.baseAddress!, rows: outFeatures, cols: inFeatures, x: x, y: y, accumulate: bias != nil)
            }
        }
    }

    /// A batch already in memory: y (rows, out) = x (rows, in) · Wᵀ + b, one SGEMM. Allocates nothing.
    /// Used to advance many streams at once (each row is one stream's frame).
    public func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        if rows == 1 { return self(x, into: y) } // SGEMV beats a one-row SGEMM
        if let b = bias {
            b.withUnsafeBufferPointer { bp in for r in 0..<rows { (y + r * outFeatures).update(from: bp.baseAddress!, count: outFeatures) } }
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.gemmXWt(x, rows: rows, inDim: inFeatures, w: w.baseAddress!, outDim: outFeatures, y: y, accumulate: bias != nil)
        }
    }

    /// A sequence: (L, in) → (L, out).
    public func callAsFunction(_ x: Matrix) -> Matrix {
        precondition(x.cols == inFeatures, "Linear expects \(inFeatures) inputs, got \(x.cols)")
        var y = Matrix(rows: x.rows, cols: outFeatures)
        if let b = bias {
            for r in 0..<x.rows { for c in 0..<outFeatures { y.data[r * outFeatures + c] = b[c] } }
        }
        x.data.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    BLAS.gemmXWt(xp.baseAddress!, rows: x.rows, inDim: inFeatures, w: wp.baseAddress!,
                                 outDim: outFeatures, y: yp.baseAddress!, accumulate: bias != nil)
                }
            }
        }
        return y
    }
}
