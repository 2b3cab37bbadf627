// DecoderChoice.swift: greedy or beam-search CTC decoding, with an optional word language model.

import Foundation
import SSMDecoding

/// How CTC outputs become text.
public enum DecoderChoice: Sendable {
    /// Arg-max per frame (fastest; no language model).
    case greedy
    /// Prefix beam search, optionally with word n-gram shallow fusion.
    case beam(lm: NGramLM?, options: CTCBeamSearchOptions)

    /// One line for reports: "greedy", or the beam width and, with an LM, its fusion settings.
    public var summary: String {
        switch self {
        case .greedy: return "greedy"
        case let .beam(lm, o):
            guard lm != nil else { return "beam \(o.beamWidth), no LM, partial margin \(o.partialMargin)" }
            let unk = o.unknownWordLogProb.map { String(format: "%.1f", $0 / Float(M_LN10)) } ?? "the LM's <unk>"
            return "beam \(o.beamWidth), LM weight \(o.alpha), word bonus \(o.beta), unknown word log10 \(unk), partial margin \(o.partialMargin)"
        }
    }

    /// A fresh decoder for one stream.
    func make(vocabulary: [String]) -> CTCDecoding {
        switch self {
        case .greedy: return CTCGreedyDecoder(blank: 0)
        case let .beam(lm, options):
            var o = options
            o.blank = 0
            if o.space == nil { o.space = vocabulary.firstIndex(of: " ") }
            return CTCPrefixBeamSearch(vocabulary: vocabulary, lm: lm, options: o)
        }
    }
}
