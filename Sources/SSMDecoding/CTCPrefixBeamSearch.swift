import Foundation
import SSMTensor

/// Settings of `CTCPrefixBeamSearch`. Log probabilities are natural logarithms.
public struct CTCBeamSearchOptions: Sendable, Equatable {
    /// Prefixes kept after each frame.
    public var beamWidth: Int = 8
    /// Language-model weight: a completed word adds `alpha · ln P_LM(word | history) + beta`.
    public var alpha: Float = 0.5
    /// Word insertion bonus (added per completed word; only with a language model).
    public var beta: Float = 1.0
    /// Per frame, only the `tokenTopK` most probable non-blank symbols extend prefixes (0: all).
    public var tokenTopK: Int = 16
    /// Per frame, symbols whose log probability is more than this below the frame's best are skipped.
    public var tokenPruneThreshold: Float = 12
    /// Prefixes scoring more than this below the best prefix are dropped even if the beam has room.
    public var beamPruneThreshold: Float = 30
    /// Index of the CTC blank.
    public var blank: Int = 0
    /// Index of the word delimiter; nil: the vocabulary entry `" "` (or `"|"`, `"▁"`), if any.
    public var space: Int? = nil
    /// `ln P` used for words missing from the language model's vocabulary; nil: the model's `<unk>`
    /// probability (log10 −100, i.e. practically forbidden, when the ARPA file has no `<unk>`).
    public var unknownWordLogProb: Float? = nil
    /// The prefix tree is garbage-collected when it holds more nodes than this (and than twice the
    /// live nodes after the previous collection).
    public var compactionThreshold: Int = 16384
    /// With a language model: of the prefixes that end in the same symbol, partial word and LM
    /// context, keep only the best (their futures are the same, so their order is final).
    public var recombine: Bool = true
    /// What a streaming display shows as the partial result (`partialTokens`): the longest common
    /// prefix of the prefixes scoring within this margin (natural log) of the best
    /// (`agreedTokens(margin:)`), so that words on which close competitors disagree are held back
    /// until one wins. 0: the best prefix (fastest, retracts most); `.infinity`: the common prefix of
    /// the whole beam (never retracts). Measured (README, "partial stability"), words shown and taken
    /// back per 100 transcribed: shipped model 7.6 at 0, 1.3 at 5; the stage 3 model 9.0, 0.44 and 0
    /// at ∞, with median emission latency 80, 360 and 400 ms.
    public var partialMargin: Double = 5

    public init() {}

    public init(beamWidth: Int = 8, alpha: Float = 0.5, beta: Float = 1.0, tokenTopK: Int = 16,
                tokenPruneThreshold: Float = 12, beamPruneThreshold: Float = 30, blank: Int = 0, space: Int? = nil,
                unknownWordLogProb: Float? = nil) {
        self.beamWidth = beamWidth; self.alpha = alpha; self.beta = beta; self.tokenTopK = tokenTopK
        self.tokenPruneThreshold = tokenPruneThreshold; self.beamPruneThreshold = beamPruneThreshold
        self.blank = blank; self.space = space; self.unknownWordLogProb = unknownWordLogProb
    }

    // MARK: Accepted ranges (the one place: `decoding.json`, `RecognizerOptions` and the command line's
    // flags are all checked against these)

    /// Beam widths. The candidates of a frame take `beamWidth · (V + 1)` slots, so a width of 1e8
    /// allocated tens of GB, and 1e5 decoded for minutes per second of audio; 1024 is far above any
    /// width that still helps (the shipped models are tuned at 32).
    public static let beamWidths: ClosedRange<Int> = 1...1_024
    /// `alpha` (LM weight): a negative weight rewards unlikely words.
    public static let lmWeights: ClosedRange<Float> = 0...10
    /// `beta` (word insertion bonus, natural-log units per word).
    public static let wordBonuses: ClosedRange<Float> = -20...20
    /// log10 probability given to words the LM does not know (`unknownWordLogProb` / ln 10).
    public static let unknownWordLog10s: ClosedRange<Float> = -100...0
    /// `partialMargin` in nats; infinity allowed (never take a word back), NaN not.
    public static let partialMargins: ClosedRange<Double> = 0...Double.infinity

    /// The first of `beamWidth`, `alpha`, `beta`, `unknownWordLogProb`, `partialMargin` outside its
    /// range, as "NAME must be …, got …" with the names `name` gives (default: the Swift names), or nil.
    public func problem(naming name: (String) -> String = { $0 }) -> String? {
        RangeCheck.problem(name("beamWidth"), beamWidth, Self.beamWidths)
            ?? RangeCheck.problem(name("alpha"), alpha, Self.lmWeights)
            ?? RangeCheck.problem(name("beta"), beta, Self.wordBonuses)
            ?? unknownWordLogProb.flatMap { RangeCheck.problem(name("unknownWordLog10"), $0 / Float(M_LN10), Self.unknownWordLog10s) }
            ?? RangeCheck.problem(name("partialMargin"), partialMargin, Self.partialMargins)
    }

    /// No token or beam pruning beyond the beam width: the exact prefix beam search.
    public static func exact(beamWidth: Int = 8) -> CTCBeamSearchOptions {
        CTCBeamSearchOptions(beamWidth: beamWidth, tokenTopK: 0, tokenPruneThreshold: .infinity, beamPruneThreshold: .infinity)
    }
}

/// Streaming CTC prefix beam search (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous
/// Speech Recognition using Bi-Directional Recurrent DNNs") with shallow fusion of a word n-gram LM.
///
/// Each prefix (label sequence after collapsing repeats and removing blanks) carries the log
/// probabilities `pb` / `pnb` of all alignments of the frames so far that produce it and end in a
/// blank / in its last symbol; alignments of the same prefix are merged. Prefixes are nodes of a
/// prefix tree (parent, symbol, frame of first emission), so extending one costs no copying.
///
/// Shallow fusion: when a word is completed — a space follows a non-space symbol, or the utterance
/// ends (`finalize`) — the prefix's score gains `alpha · ln P_LM(word | previous words) + beta`;
/// `finalize` also adds `alpha · ln P_LM(</s> | …)`. Words outside the LM vocabulary get the
/// `<unk>` score (or `options.unknownWordLogProb`). Prefixes are ranked by
/// `ln(e^pb + e^pnb) + LM score`. Without a language model this is the plain CTC prefix beam search
/// (with the delimiter rule below).
///
/// Refinements (all keep the final scores of the standard algorithm, except recombination, which
/// drops hypotheses that can no longer win):
/// * Out-of-vocabulary look-ahead: as soon as a partial word is no prefix of any LM word, its
///   `<unk>` score is charged (and not charged again at the delimiter), so misspelt partial words
///   do not crowd the beam.
/// * Recombination (`options.recombine`, with an LM): of the prefixes that end in the same symbol,
///   partial word and LM context only the best is kept.
/// * Delimiters are never doubled and never lead: a delimiter after a delimiter (or at the start)
///   is absorbed into the same prefix.
///
/// Frames: `EmittedToken.frame` is the frame where the symbol's probability arrived — where the
/// prefix was created, or later if a stronger alignment emits it again (made non-decreasing
/// along a prefix) — equal to greedy decoding's frames on peaky posteriors.
///
/// Stability: `stableTokens` is the longest common prefix of all prefixes in the beam. Every later
/// hypothesis (including the final one) extends one of them, so `stableTokens` never retracts.
/// `tokens` (the current best prefix) can change its last words: on noisy synthetic posteriors
/// (greedy WER ≈ 30 %, trigram LM, beam 8; `testStablePrefixNeverRetractsAndMeasureWordRetractions`)
/// the best prefix's completed words changed between consecutive frames in 0.37 % of frames, and
/// `stableTokens` trailed the best prefix by 1.0 completed word on average. A display can show
/// `stableTokens` as final and the rest of `tokens` as tentative.
public struct CTCPrefixBeamSearch: CTCDecoding, Sendable {
    public let vocabulary: [String]
    public let lm: NGramLM?
    public let options: CTCBeamSearchOptions
    /// Index of the word delimiter (nil: none, so no word-level scoring happens).
    public let space: Int?

    // per-symbol properties
    private let tokenBytes: [UInt8]
    private let tokenByteStart: [Int]
    private let isWordSymbol: [Bool]

    private struct Node {
        var parent: Int32
        var token: Int32
        var frame: Int32
        var depth: Int32
        var lmScore: Double        // accumulated fusion score of the completed words
        var lmState: LMState       // LM context after the completed words
        var completion: Double     // score for completing the current word here; NaN: not computed
        var completionState: LMState
        var word: WordPrefix       // the partial word this prefix ends with
        var unknownCharge: Double  // alpha · ln P(<unk> | lmState); NaN: not computed
    }

    /// Look-ahead state of the partial word at the end of a prefix.
    private struct WordPrefix {
        var hash: UInt64 = NGramLM.prefixHashSeed   // FNV-1a of its spelling
        /// Some vocabulary word starts with the partial word.
        var possible = true
        /// Score charged in advance (in `lmScore`) once the partial word cannot become a vocabulary
        /// word: the `<unk>` score it will get when completed.
        var precharge: Double = 0
    }

    private struct Hyp {
        var node: Int32
        var pb: Double
        var pnb: Double
        var score: Double
    }

    private struct Candidate {
        var key: UInt64
        var parent: Int32
        var token: Int32
        var node: Int32
        var pb: Double
        var pnb: Double
        var lmScore: Double
        var lmState: LMState
        var word: WordPrefix
        var previous: Double       // the prefix's log probability before this frame (−∞: not in the beam)
        var emit: Double           // largest term from alignments that emit its last symbol at this frame
        var score: Double = -.infinity
        var dropped = false
    }

    private var nodes: [Node] = []
    private var children: [UInt64: Int32] = [:]
    private var beam: [Hyp] = []
    private var nextBeam: [Hyp] = []
    private var frame = 0
    private var compactionLimit: Int

    // scratch
    private var logProbs: [Float]
    private var candidateTokens: [Int]
    private var candidates: [Candidate] = []
    private var table: [Int32]
    private var stamps: [UInt32]
    private var generation: UInt32 = 0
    private var wordScratch: [UInt8] = []

    public init(vocabulary: [String], lm: NGramLM?, options: CTCBeamSearchOptions = CTCBeamSearchOptions()) {
        precondition(options.beamWidth >= 1, "beam width must be at least 1")
        precondition(options.blank >= 0 && options.blank < vocabulary.count, "blank index outside the vocabulary")
        self.vocabulary = vocabulary
        self.lm = lm
        self.options = options
        let sp = options.space ?? vocabulary.firstIndex(where: { $0 == " " || $0 == "|" || $0 == "▁" })
        space = sp
        var bytes: [UInt8] = [], starts: [Int] = [0], word: [Bool] = []
        for (i, s) in vocabulary.enumerated() {
            if i != options.blank && i != sp { bytes.append(contentsOf: Array(s.utf8)) }
            starts.append(bytes.count)
            word.append(i != options.blank && i != sp && !s.isEmpty)
        }
        tokenBytes = bytes; tokenByteStart = starts; isWordSymbol = word
        logProbs = [Float](repeating: 0, count: vocabulary.count)
        candidateTokens = []
        candidateTokens.reserveCapacity(vocabulary.count)
        let maxCandidates = options.beamWidth * (vocabulary.count + 1)
        var cap = 64
        while cap < maxCandidates * 2 { cap <<= 1 }
        table = [Int32](repeating: 0, count: cap)
        stamps = [UInt32](repeating: 0, count: cap)
        candidates.reserveCapacity(maxCandidates)
        compactionLimit = options.compactionThreshold
        reset()
    }

    /// Starts a new utterance.
    public mutating func reset() {
        nodes.removeAll(keepingCapacity: true)
        children.removeAll(keepingCapacity: true)
        nodes.append(Node(parent: -1, token: -1, frame: -1, depth: 0, lmScore: 0, lmState: lm?.beginState ?? LMState(),
                          completion: .nan, completionState: LMState(), word: WordPrefix(), unknownCharge: .nan))
        beam.removeAll(keepingCapacity: true)
        beam.append(Hyp(node: 0, pb: 0, pnb: -.infinity, score: 0))
        frame = 0
        compactionLimit = options.compactionThreshold
    }

    /// Frames consumed since the last reset.
    public var framesSeen: Int { frame }

    // MARK: decoding

    /// Consumes one frame of raw logits `(V)` (log-softmax is applied here).
    public mutating func accept(_ logits: UnsafeBufferPointer<Float>) {
        precondition(logits.count == vocabulary.count, "expected \(vocabulary.count) logits, got \(logits.count)")
        let v = logits.count
        // log-softmax
        var mx = -Float.infinity
        for i in 0..<v where logits[i] > mx { mx = logits[i] }
        var bestLp: Float = 0
        if mx.isFinite {
            var sum: Float = 0
            for i in 0..<v where !logits[i].isNaN { sum += expf(logits[i] - mx) }   // a NaN logit: probability 0
            let norm = mx + logf(sum)
            bestLp = -Float.infinity
            for i in 0..<v {
                let x = logits[i].isNaN ? -Float.infinity : logits[i] - norm
                logProbs[i] = x
                if x > bestLp { bestLp = x }
            }
        } else {
            // Non-finite scores (a model whose weights overflow): +inf logits share the frame equally;
            // a frame with no usable score at all (every logit NaN or -inf) is a certain blank.
            var k = 0
            if mx == .infinity { for i in 0..<v where logits[i] == .infinity { k += 1 } }
            let share = k > 0 ? -logf(Float(k)) : 0
            for i in 0..<v {
                logProbs[i] = k > 0 ? (logits[i] == .infinity ? share : -.infinity) : (i == options.blank ? 0 : -.infinity)
            }
            bestLp = share
        }
        selectTokens(bestLp: bestLp)

        // extend every prefix by every candidate symbol, merging equal prefixes
        generation &+= 1
        if generation == 0 { for i in stamps.indices { stamps[i] = 0 }; generation = 1 }
        candidates.removeAll(keepingCapacity: true)
        let lpBlank = Double(logProbs[options.blank])
        for h in 0..<beam.count {
            let hyp = beam[h]
            let node = nodes[Int(hyp.node)]
            let total = logAddExp(hyp.pb, hyp.pnb)
            // the same prefix: a blank, or a repeat of its last symbol
            let ci = candidateIndex(parent: node.parent, token: node.token, node: hyp.node)
            candidates[ci].pb = logAddExp(candidates[ci].pb, total + lpBlank)
            // Delimiters are not doubled: the empty prefix and a prefix ending with a delimiter
            // absorb further delimiters (so "a  b" and " a" are never separate hypotheses).
            let last = node.token >= 0 ? Int(node.token) : (space ?? -1)
            let absorbsSpace = space != nil && last == space
            if last >= 0 {
                candidates[ci].pnb = logAddExp(candidates[ci].pnb, hyp.pnb + Double(logProbs[last]))
            }
            candidates[ci].previous = total
            // longer prefixes
            for c in candidateTokens {
                let lp = Double(logProbs[c])
                if absorbsSpace && c == last {
                    candidates[ci].pnb = logAddExp(candidates[ci].pnb, hyp.pb + lp)
                    continue
                }
                let cj = candidateIndex(parent: hyp.node, token: Int32(c), node: -1)
                // a repeated symbol needs a blank in between
                let term = c == Int(node.token) ? hyp.pb + lp : total + lp
                candidates[cj].pnb = logAddExp(candidates[cj].pnb, term)
                candidates[cj].emit = max(candidates[cj].emit, term)
            }
        }
        selectSurvivors()
        frame += 1
        if nodes.count > compactionLimit { compact() }
    }

    private mutating func selectTokens(bestLp: Float) {
        candidateTokens.removeAll(keepingCapacity: true)
        let threshold = bestLp - options.tokenPruneThreshold
        for i in 0..<logProbs.count where i != options.blank && logProbs[i] >= threshold {
            candidateTokens.append(i)
        }
        let k = options.tokenTopK
        if k > 0 && candidateTokens.count > k {
            // insertion sort by descending log probability (V is small), keep the first k
            for i in 1..<candidateTokens.count {
                let t = candidateTokens[i]
                var j = i
                while j > 0 && logProbs[candidateTokens[j - 1]] < logProbs[t] {
                    candidateTokens[j] = candidateTokens[j - 1]
                    j -= 1
                }
                candidateTokens[j] = t
            }
            candidateTokens.removeLast(candidateTokens.count - k)
        }
    }

    @inline(__always)
    private static func key(parent: Int32, token: Int32) -> UInt64 {
        (UInt64(UInt32(bitPattern: parent)) << 32) | UInt64(UInt32(bitPattern: token))
    }

    /// The candidate for prefix `parent + token` (creating it if new this frame).
    private mutating func candidateIndex(parent: Int32, token: Int32, node: Int32) -> Int {
        let key = Self.key(parent: parent, token: token)
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
        while stamps[i] == generation {
            let ci = Int(table[i])
            if candidates[ci].key == key {
                if node >= 0 { candidates[ci].node = node }
                return ci
            }
            i = (i + 1) & mask
        }
        stamps[i] = generation
        let ci = candidates.count
        table[i] = Int32(ci)
        var lmScore = 0.0
        var lmState = LMState()
        var word = WordPrefix()
        if node >= 0 {
            lmScore = nodes[Int(node)].lmScore
            lmState = nodes[Int(node)].lmState
            word = nodes[Int(node)].word
        } else {
            let p = Int(parent)
            let t = Int(token)
            let parentInWord = nodes[p].token >= 0 && isWordSymbol[Int(nodes[p].token)]
            lmScore = nodes[p].lmScore
            lmState = nodes[p].lmState
            if let lm {
                if t == space, parentInWord {
                    lmScore += completion(p)
                    lmState = nodes[p].completionState
                } else if isWordSymbol[t] {
                    // look-ahead: once the partial word cannot become a vocabulary word, charge the
                    // <unk> score now rather than at the delimiter (the total stays the same)
                    if parentInWord { word = nodes[p].word }
                    for b in tokenByteStart[t]..<tokenByteStart[t + 1] { word.hash = NGramLM.prefixHashStep(word.hash, tokenBytes[b]) }
                    if word.possible {
                        if !lm.isWordPrefix(hash: word.hash) {
                            word.possible = false
                            word.precharge = unknownCharge(p)
                            lmScore += word.precharge
                        }
                    }
                }
            }
        }
        candidates.append(Candidate(key: key, parent: parent, token: token, node: node, pb: -.infinity, pnb: -.infinity,
                                    lmScore: lmScore, lmState: lmState, word: word, previous: -.infinity, emit: -.infinity))
        return ci
    }

    /// Fusion score for ending the word that node `p` ends with (cached in the node).
    private mutating func completion(_ p: Int) -> Double {
        let cached = nodes[p].completion
        if !cached.isNaN { return cached }
        guard let lm else { return 0 }
        // spell the word: symbols back to the previous delimiter
        wordScratch.removeAll(keepingCapacity: true)
        var n = p
        while n > 0 {
            let t = Int(nodes[n].token)
            guard isWordSymbol[t] else { break }
            var b = tokenByteStart[t + 1] - 1
            while b >= tokenByteStart[t] { wordScratch.append(tokenBytes[b]); b -= 1 }
            n = Int(nodes[n].parent)
        }
        wordScratch.reverse()
        let id = wordScratch.withUnsafeBufferPointer { lm.wordId(utf8: $0) }
        let state = nodes[p].lmState
        var lnP: Float
        let next: LMState
        if let id {
            (lnP, next) = lm.score(id, state: state)
        } else {
            (lnP, next) = lm.score(lm.unk, state: state)
            if let fixed = options.unknownWordLogProb { lnP = fixed }
        }
        let c = Double(options.alpha) * Double(lnP) + Double(options.beta) - nodes[p].word.precharge
        nodes[p].completion = c
        nodes[p].completionState = next
        return c
    }

    /// `alpha · ln P` of an out-of-vocabulary word after the completed words of node `p`.
    private mutating func unknownCharge(_ p: Int) -> Double {
        let cached = nodes[p].unknownCharge
        if !cached.isNaN { return cached }
        guard let lm else { return 0 }
        let lnP = options.unknownWordLogProb ?? lm.score(lm.unk, state: nodes[p].lmState).lnProb
        let c = Double(options.alpha) * Double(lnP)
        nodes[p].unknownCharge = c
        return c
    }

    private mutating func selectSurvivors() {
        let width = options.beamWidth
        nextBeam.removeAll(keepingCapacity: true)
        var bestScore = -Double.infinity
        for ci in 0..<candidates.count {
            let s = logAddExp(candidates[ci].pb, candidates[ci].pnb) + candidates[ci].lmScore
            candidates[ci].score = s
            if s > bestScore { bestScore = s }
        }
        if lm != nil && options.recombine { recombine() }
        for ci in 0..<candidates.count {
            let c = candidates[ci]
            let s = c.score
            guard s > -Double.infinity, !c.dropped else { continue }
            if nextBeam.count == width && s <= nextBeam[width - 1].score { continue }
            // insert sorted (descending; earlier candidates win ties)
            var j = nextBeam.count
            if j < width {
                nextBeam.append(Hyp(node: Int32(ci), pb: c.pb, pnb: c.pnb, score: s))
            } else {
                j -= 1
                nextBeam[j] = Hyp(node: Int32(ci), pb: c.pb, pnb: c.pnb, score: s)
            }
            while j > 0 && nextBeam[j - 1].score < s {
                nextBeam.swapAt(j, j - 1)
                j -= 1
            }
        }
        // No candidate with a usable score (every one −∞ or NaN: an LM with −inf probabilities, NaN
        // scores): the frame carries no information; keep the beam as it was.
        guard !nextBeam.isEmpty else { return }
        let floor = bestScore - Double(options.beamPruneThreshold)
        beam.removeAll(keepingCapacity: true)
        for h in nextBeam where h.score >= floor || beam.isEmpty {
            let c = candidates[Int(h.node)]
            var node = c.node
            if node < 0, let existing = children[c.key] { node = existing }
            if node >= 0 {
                // The frame of a symbol is where its probability arrived: a prefix that was kept (or
                // seen before) with less probability than one alignment emitting it now brings, moves
                // here. (Otherwise junk extensions kept early would fix too early frames.)
                if c.emit > c.previous { nodes[Int(node)].frame = Int32(frame) }
            } else {
                node = Int32(nodes.count)
                let p = Int(c.parent)
                nodes.append(Node(parent: c.parent, token: c.token, frame: Int32(frame), depth: nodes[p].depth + 1,
                                  lmScore: c.lmScore, lmState: c.lmState, completion: .nan, completionState: LMState(),
                                  word: c.word, unknownCharge: .nan))
                children[c.key] = node
            }
            beam.append(Hyp(node: node, pb: h.pb, pnb: h.pnb, score: h.score))
        }
    }

    /// Hypothesis recombination: prefixes that end in the same symbol, the same partial word and the
    /// same LM context have the same future (up to their blank/non-blank split), so the order of
    /// their scores can no longer change; only the best is kept. Without this the beam fills with
    /// variants of an old word that differ by a frozen score, and `stableTokens` stalls behind them.
    private mutating func recombine() {
        generation &+= 1
        if generation == 0 { for i in stamps.indices { stamps[i] = 0 }; generation = 1 }
        let mask = table.count - 1
        for ci in 0..<candidates.count where candidates[ci].score > -Double.infinity {
            let c = candidates[ci]
            var h = c.word.hash ^ (UInt64(UInt32(bitPattern: c.token)) &* 0x9E37_79B9_7F4A_7C15)
            h = (h ^ UInt64(c.lmState.count)) &* 0xBF58_476D_1CE4_E5B9
            for k in 0..<c.lmState.count { h = (h ^ UInt64(UInt32(bitPattern: c.lmState[k]))) &* 0x94D0_49BB_1331_11EB }
            var i = Int(truncatingIfNeeded: h >> 40) & mask
            var merged = false
            while stamps[i] == generation {
                let other = Int(table[i])
                let o = candidates[other]
                if o.token == c.token && o.word.hash == c.word.hash && o.lmState == c.lmState {
                    if c.score > o.score {
                        candidates[other].dropped = true
                        table[i] = Int32(ci)
                    } else {
                        candidates[ci].dropped = true
                    }
                    merged = true
                    break
                }
                i = (i + 1) & mask
            }
            if !merged {
                stamps[i] = generation
                table[i] = Int32(ci)
            }
        }
    }

    /// Drops the prefix-tree nodes that no prefix in the beam goes through.
    private mutating func compact() {
        var live = [Bool](repeating: false, count: nodes.count)
        for h in beam {
            var n = Int(h.node)
            while n >= 0 && !live[n] { live[n] = true; n = Int(nodes[n].parent) }
        }
        var remap = [Int32](repeating: -1, count: nodes.count)
        var kept: [Node] = []
        kept.reserveCapacity(nodes.count / 2)
        for i in 0..<nodes.count where live[i] {   // parents precede children
            var node = nodes[i]
            if node.parent >= 0 { node.parent = remap[Int(node.parent)] }
            remap[i] = Int32(kept.count)
            kept.append(node)
        }
        nodes = kept
        children.removeAll(keepingCapacity: true)
        for i in 1..<nodes.count { children[Self.key(parent: nodes[i].parent, token: nodes[i].token)] = Int32(i) }
        for i in beam.indices { beam[i].node = remap[Int(beam[i].node)] }
        compactionLimit = max(options.compactionThreshold, 2 * nodes.count)
    }

    // MARK: results

    /// The symbols of a prefix with their frames (made non-decreasing: a shared ancestor's frame
    /// may have moved later than a descendant's emission).
    private func path(_ node: Int32) -> [EmittedToken] {
        var out: [EmittedToken] = []
        out.reserveCapacity(Int(nodes[Int(node)].depth))
        var n = Int(node)
        var limit = Int.max
        while n > 0 {
            let f = min(Int(nodes[n].frame), limit)
            out.append(EmittedToken(token: Int(nodes[n].token), frame: f))
            limit = f
            n = Int(nodes[n].parent)
        }
        return out.reversed()
    }

    /// The best prefix so far (ranked by acoustic + LM score of its completed words).
    public var best: [EmittedToken] { path(beam[0].node) }

    /// The best prefix so far (`CTCDecoding`).
    public var tokens: [EmittedToken] { best }

    /// The longest common prefix of all prefixes in the beam: later frames cannot change it.
    public var stableTokens: [EmittedToken] { agreedTokens(margin: .infinity) }

    /// The longest common prefix of the prefixes whose score lies within `margin` of the best's
    /// (beam order: acoustic log probability + fusion score of completed words). A display showing
    /// only this retracts something only when a prefix now more than `margin` behind overtakes every
    /// prefix within it; `margin = .infinity` gives `stableTokens`, which never retracts.
    public func agreedTokens(margin: Double) -> [EmittedToken] {
        let floor = beam[0].score - margin
        var a = Int(beam[0].node)
        for h in beam.dropFirst() where h.score >= floor {
            var b = Int(h.node)
            while a != b {
                if nodes[a].depth >= nodes[b].depth { a = Int(nodes[a].parent) } else { b = Int(nodes[b].parent) }
            }
        }
        return path(Int32(a))
    }

    /// The partial result for a display: `tokens`, or `agreedTokens(margin:)` with
    /// `options.partialMargin`.
    public var partialTokens: [EmittedToken] {
        options.partialMargin > 0 ? agreedTokens(margin: options.partialMargin) : best
    }

    /// One prefix in the beam.
    public struct Hypothesis: Sendable {
        public var tokens: [EmittedToken]
        /// `ln P(prefix | frames)` summed over its CTC alignments.
        public var acousticLogProb: Double
        /// `Σ alpha · ln P_LM + beta` over its completed words, plus `alpha · ln P_LM(<unk>)` already
        /// when its partial word can no longer become a vocabulary word.
        public var lmScore: Double
        public var score: Double { acousticLogProb + lmScore }
    }

    /// The beam, best first.
    public var hypotheses: [Hypothesis] {
        beam.map { Hypothesis(tokens: path($0.node), acousticLogProb: logAddExp($0.pb, $0.pnb), lmScore: nodes[Int($0.node)].lmScore) }
    }

    /// The best hypothesis at the end of the utterance: the last word (if the prefix does not end
    /// with a delimiter) is scored, and `</s>`. The beam is left as it is, so decoding can go on.
    public mutating func finalize() -> [EmittedToken] {
        var bestNode: Int32 = beam[0].node
        var bestScore = -Double.infinity
        for i in 0..<beam.count {
            let h = beam[i]
            var s = logAddExp(h.pb, h.pnb) + nodes[Int(h.node)].lmScore
            if let lm {
                let n = Int(h.node)
                var state = nodes[n].lmState
                if nodes[n].token >= 0, isWordSymbol[Int(nodes[n].token)] {
                    s += completion(n)
                    state = nodes[n].completionState
                }
                s += Double(options.alpha) * Double(lm.score(lm.eos, state: state).lnProb)
            }
            if s > bestScore { bestScore = s; bestNode = h.node }
        }
        return path(bestNode)
    }

    /// The text of a token sequence (symbols concatenated).
    public func text(_ tokens: [EmittedToken]) -> String {
        tokens.map { vocabulary[$0.token] }.joined()
    }

    /// Decodes a whole `(L, V)` logit matrix (accept every row, then finalize).
    public static func decode(_ logits: Matrix, vocabulary: [String], lm: NGramLM? = nil,
                              options: CTCBeamSearchOptions = CTCBeamSearchOptions()) -> [EmittedToken] {
        var d = CTCPrefixBeamSearch(vocabulary: vocabulary, lm: lm, options: options)
        logits.data.withUnsafeBufferPointer { p in
            for t in 0..<logits.rows { d.accept(UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])) }
        }
        return d.finalize()
    }
}

@inline(__always)
func logAddExp(_ a: Double, _ b: Double) -> Double {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b))
}
