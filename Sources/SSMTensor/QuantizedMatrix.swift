import CSupport

/// How a model keeps its weight matrices for the per-frame hot path.
///
/// `float32` is the checkpoint as trained. `int8` quantises every matrix that a recurrent step
/// multiplies by a vector (linear layers, convolution windows) to int8 with one scale per output row,
/// for a quarter of the memory traffic; whole-sequence and multi-stream paths (SGEMM) stay float32.
/// Checkpoints are always float32 on disk: quantisation happens when the model is loaded.
public enum MatrixPrecision: String, Sendable, CaseIterable, Codable {
    case float32, int8
}

/// An int8 copy of a float matrix W (rows, cols), row-major, with per-row scales:
/// W[r][c] ≈ scale[r] · q[r][c] (symmetric, scale[r] = max |W[r][·]| / 127).
///
/// `gemv` quantises the input vector to int16 on the fly and runs the AVX2 kernel of
/// `Sources/CSupport/ssm_quantized.c` (a portable loop on other CPUs). Error: about 0.4 % of a row's
/// largest weight per element, averaging out over a dot product (tested against float32 in
/// `QuantizedMatrixTests`).
public struct QuantizedMatrix: Sendable {
    public let rows: Int
    public let cols: Int
    /// (rows, cols) int8 values.
    public let values: [Int8]
    /// (rows) scales.
    public let scales: [Float]

    public init(quantizing w: UnsafePointer<Float>, rows: Int, cols: Int) {
        precondition(rows > 0 && cols > 0 && rows <= Int(Int32.max) && cols <= Int(Int32.max), "bad matrix size")
        self.rows = rows
        self.cols = cols
        var q = [Int8](repeating: 0, count: rows * cols)
        var s = [Float](repeating: 0, count: rows)
        q.withUnsafeMutableBufferPointer { qp in
            s.withUnsafeMutableBufferPointer { sp in
                ssm_q8_quantize_rows(w, Int32(rows), Int32(cols), qp.baseAddress!, sp.baseAddress!)
            }
        }
        values = q
        scales = s
    }

    public init(quantizing w: [Float], rows: Int, cols: Int) {
        precondition(w.count == rows * cols, "QuantizedMatrix: \(w.count) values for \(rows)×\(cols)")
        self = w.withUnsafeBufferPointer { QuantizedMatrix(quantizing: $0.baseAddress!, rows: rows, cols: cols) }
    }

    /// The float matrix this one stands for (scale · q), row-major.
    public var dequantized: [Float] {
        (0..<rows * cols).map { scales[$0 / cols] * Float(values[$0]) }
    }

    /// y (rows) = W·x (cols), or y += W·x. Allocates nothing.
    @inline(__always)
    public func gemv(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        product(ssm_q8_gemv, x, y, accumulate)
    }

    /// `gemv` with the portable loop whatever the CPU (tests compare it with the AVX2 kernel).
    public func gemvPortable(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        product(ssm_q8_gemv_portable, x, y, accumulate)
    }

    private typealias Kernel = (UnsafePointer<Int8>?, UnsafePointer<Float>?, Int32, Int32, UnsafePointer<Float>?,
                                UnsafeMutablePointer<Float>?, Int32) -> Void

    @inline(__always)
    private func product(_ kernel: Kernel, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        values.withUnsafeBufferPointer { q in
            scales.withUnsafeBufferPointer { s in
                kernel(q.baseAddress!, s.baseAddress!, Int32(rows), Int32(cols), x, y, accumulate ? 1 : 0)
            }
        }
    }

    /// Whether the AVX2 kernel runs on this CPU (otherwise the portable loop).
    public static var usesAVX2: Bool { ssm_q8_uses_avx2() != 0 }
}
