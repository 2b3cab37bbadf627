import SSMTensor

/// A decoded symbol with the encoder frame where it was emitted.
public struct EmittedToken: Equatable, Sendable {
    public var token: Int
    public var frame: Int
    public init(token: Int, frame: Int) { self.token = token; self.frame = frame }
}

/// Streaming greedy CTC decoding: per output frame take the arg-max symbol, collapse repeats, drop blanks.
///
/// Stateful so that it can be fed frame by frame; `tokens` is the hypothesis so far.
public struct CTCGreedyDecoder: Sendable {
    public let blank: Int
    public private(set) var tokens: [EmittedToken] = []
    private var previous: Int
    private var frame = 0

    public init(blank: Int = 0) {
        self.blank = blank
        previous = blank
    }

    public mutating func reset() { tokens.removeAll(keepingCapacity: true); previous = blank; frame = 0 }

    /// Index of the largest logit (the first one on ties).
    @inline(__always)
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for v in 0..<logits.count where logits[v] > bestValue { bestValue = logits[v]; best = v }
        return best
    }

    /// Consumes one frame of logits `(V)`.
    public mutating func accept(_ logits: UnsafeBufferPointer<Float>) {
        let best = Self.argmax(logits)
        if best != blank && best != previous { tokens.append(EmittedToken(token: best, frame: frame)) }
        previous = best
        frame += 1
    }

    /// Decodes a whole `(L, V)` logit matrix.
    public static func decode(_ logits: Matrix, blank: Int = 0) -> [EmittedToken] {
        var d = CTCGreedyDecoder(blank: blank)
        logits.data.withUnsafeBufferPointer { p in
            for t in 0..<logits.rows { d.accept(UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])) }
        }
        return d.tokens
    }
}
