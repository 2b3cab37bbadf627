/// A streaming CTC decoder: fed one frame of logits at a time, it can report its hypothesis at any
/// moment and give a final one at the end of an utterance. `CTCGreedyDecoder` and
/// `CTCPrefixBeamSearch` both conform, so a recognizer can hold either.
public protocol CTCDecoding {
    /// Consumes one encoder frame of raw logits `(V)`.
    mutating func accept(_ logits: UnsafeBufferPointer<Float>)
    /// The best hypothesis so far (may change as more frames arrive).
    var tokens: [EmittedToken] { get }
    /// A prefix of `tokens` that later frames will not change (possibly shorter than `tokens`).
    var stableTokens: [EmittedToken] { get }
    /// What a live display should show now: `tokens`, or a prefix of it that is unlikely to change.
    var partialTokens: [EmittedToken] { get }
    /// The final hypothesis for the frames seen so far (end of utterance). Does not reset the decoder.
    mutating func finalize() -> [EmittedToken]
    /// Starts a new utterance.
    mutating func reset()
}

extension CTCDecoding {
    public var stableTokens: [EmittedToken] { tokens }
    public var partialTokens: [EmittedToken] { tokens }

    /// Consumes one frame of raw logits.
    public mutating func accept(_ logits: [Float]) {
        logits.withUnsafeBufferPointer { accept($0) }
    }
}

extension CTCGreedyDecoder: CTCDecoding {
    /// Greedy decoding never revises a symbol it has emitted, so the final result is `tokens`.
    public mutating func finalize() -> [EmittedToken] { tokens }
}
