/// A dense row-major float matrix: `rows × cols`, `cols` contiguous.
///
/// Used for whole sequences in parallel mode, e.g. features `(T, F)` or activations `(L, D)`.
public struct Matrix: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    /// (rows · cols) values, row-major.
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "Matrix data count \(data.count) != \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: value, count: rows * cols))
    }

    public subscript(r: Int, c: Int) -> Float {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    /// Row `r` as an array (allocates; for tests and glue code).
    public func row(_ r: Int) -> [Float] { Array(data[(r * cols)..<((r + 1) * cols)]) }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, data: Array(data[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// Appends the rows of `other` (same column count).
    public mutating func append(rowsOf other: Matrix) {
        precondition(other.cols == cols || rows == 0, "column mismatch \(other.cols) vs \(cols)")
        if rows == 0 { cols = other.cols }
        data.append(contentsOf: other.data)
        rows += other.rows
    }

    /// Largest absolute element-wise difference (tests).
    public func maxAbsDifference(_ other: Matrix) -> Float {
        precondition(rows == other.rows && cols == other.cols, "shape mismatch (\(rows),\(cols)) vs (\(other.rows),\(other.cols))")
        return SSMTensor.maxAbsDifference(data, other.data)
    }
}

/// Largest absolute element-wise difference between two equally long arrays.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}
