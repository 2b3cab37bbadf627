import Foundation
import SSMDecoding
import SSMTensor
import SSMTestSupport
import XCTest

/// The acoustic model's vocabulary: blank, space, apostrophe, a-z.
let charVocab: [String] = ["<blank>", " ", "'"] + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }

func symbol(_ s: String) -> Int {
    s == "_" ? 0 : charVocab.firstIndex(of: s)!
}

/// One frame whose softmax gives the listed probabilities ("_" = blank); other symbols get ~0.
func frame(_ probs: [String: Double]) -> [Float] {
    var logits = [Float](repeating: -1000, count: charVocab.count)
    for (s, p) in probs { logits[symbol(s)] = Float(log(p)) }
    return logits
}

func matrix(_ frames: [[Float]]) -> Matrix {
    Matrix(rows: frames.count, cols: charVocab.count, data: frames.flatMap { $0 })
}

func textOf(_ tokens: [EmittedToken]) -> String { tokens.map { charVocab[$0.token] }.joined() }

/// Synthetic CTC posteriors for `text`: each symbol for 1-2 frames, 0-2 blank frames between
/// (always one between doubled letters). `sharp` is the logit margin of the intended symbol;
/// with probability `confusion` a random letter gets a competitive logit on a symbol frame.
func synthesize(_ text: String, rng: inout SeededRandom, sharp: Float, noise: Float, confusion: Float) -> [[Float]] {
    var frames: [[Float]] = []
    func emit(_ target: Int, confusable: Bool) {
        var f = (0..<charVocab.count).map { _ in rng.normal() * noise }
        f[0] += sharp * 0.25
        f[target] += sharp
        if confusable && rng.uniform(0, 1) < confusion {
            let other = 3 + Int(rng.next() % 26)
            f[other] += sharp - 1 + rng.normal()
        }
        frames.append(f)
    }
    var previous = -1
    for ch in text {
        let s = symbol(String(ch))
        if s == previous || rng.uniform(0, 1) < 0.5 {
            for _ in 0..<(1 + Int(rng.next() % 2)) { emit(0, confusable: false) }
        }
        for _ in 0..<(1 + Int(rng.next() % 2)) { emit(s, confusable: s > 2) }
        previous = s
    }
    for _ in 0..<3 { emit(0, confusable: false) }
    return frames
}

final class BeamSearchTests: XCTestCase {
    func testBeamWithoutLMEqualsGreedyOnPeakyPosteriors() {
        var rng = SeededRandom(seed: 7)
        let words = ["the", "cat", "sat", "on", "a", "mat", "book", "see", "all", "eel", "it's"]
        for trial in 0..<5 {
            let text = (0..<12).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
            let logits = matrix(synthesize(text, rng: &rng, sharp: 14, noise: 0.5, confusion: 0))
            let greedy = CTCGreedyDecoder.decode(logits)
            XCTAssertEqual(textOf(greedy), text)
            var beam = CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil, options: CTCBeamSearchOptions(beamWidth: 8))
            var g = CTCGreedyDecoder()
            logits.data.withUnsafeBufferPointer { p in
                for t in 0..<logits.rows {
                    let row = UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])
                    beam.accept(row)
                    g.accept(row)
                    XCTAssertEqual(beam.tokens, g.tokens, "trial \(trial) frame \(t)")
                }
            }
            XCTAssertEqual(beam.finalize(), greedy, "trial \(trial)")  // symbols and frames
        }
    }

    func testPrefixBeamSearchFindsMoreProbableLabellingThanGreedy() {
        // Two frames, each P(blank) = 0.6, P(a) = 0.4. Greedy takes blank twice: "" with 0.36.
        // The labelling "a" has the alignments aa, a_, _a: 0.16 + 0.24 + 0.24 = 0.64.
        let frames = [frame(["_": 0.6, "a": 0.4]), frame(["_": 0.6, "a": 0.4])]
        XCTAssertEqual(textOf(CTCGreedyDecoder.decode(matrix(frames))), "")
        var beam = CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil, options: .exact(beamWidth: 4))
        for f in frames { beam.accept(f) }
        let hyps = beam.hypotheses
        XCTAssertEqual(textOf(hyps[0].tokens), "a")
        XCTAssertEqual(hyps[0].acousticLogProb, log(0.64), accuracy: 1e-5)
        XCTAssertEqual(textOf(hyps[1].tokens), "")
        XCTAssertEqual(hyps[1].acousticLogProb, log(0.36), accuracy: 1e-5)
        XCTAssertEqual(textOf(beam.finalize()), "a")
        XCTAssertEqual(beam.finalize(), [EmittedToken(token: symbol("a"), frame: 0)])

        // Three frames: P(_) = 0.55, P(a) = 0.45 | P(_) = 0.6, P(b) = 0.4 | P(_) = 0.6, P(b) = 0.4.
        // Greedy: "" (0.55 · 0.36 = 0.198). Frames 2-3 produce "b" with 0.16 + 0.24 + 0.24 = 0.64, so
        // P("b") = 0.55 · 0.64 = 0.352 and P("ab") = 0.45 · 0.64 = 0.288.
        let f3 = [frame(["_": 0.55, "a": 0.45]), frame(["_": 0.6, "b": 0.4]), frame(["_": 0.6, "b": 0.4])]
        var b3 = CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil, options: .exact(beamWidth: 8))
        for f in f3 { b3.accept(f) }
        XCTAssertEqual(textOf(CTCGreedyDecoder.decode(matrix(f3))), "")
        XCTAssertEqual(textOf(b3.hypotheses[0].tokens), "b")
        XCTAssertEqual(b3.hypotheses[0].acousticLogProb, log(0.55 * 0.64), accuracy: 1e-5)
        let ab = b3.hypotheses.first { textOf($0.tokens) == "ab" }!
        XCTAssertEqual(ab.acousticLogProb, log(0.45 * 0.64), accuracy: 1e-5)
    }

    func testRepeatedSymbolNeedsBlank() {
        // "aa" needs a blank between: frames a, a give "a" only (P = 0.81 + 0.09 + 0.09).
        var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil, options: .exact())
        for f in [frame(["a": 0.9, "_": 0.1]), frame(["a": 0.9, "_": 0.1])] { d.accept(f) }
        XCTAssertEqual(textOf(d.finalize()), "a")
        // Over a(0.9) / _(0.9) / a(0.9) the only alignment of "aa" is a _ a: P = 0.9³ = 0.729, while
        // "a" collects aaa, aa_, a__, _aa, __a, _a_ = 0.262.
        d.reset()
        for f in [frame(["a": 0.9, "_": 0.1]), frame(["_": 0.9, "a": 0.1]), frame(["a": 0.9, "_": 0.1])] { d.accept(f) }
        XCTAssertEqual(textOf(d.finalize()), "aa")
        let aa = d.hypotheses.first { textOf($0.tokens) == "aa" }!
        XCTAssertEqual(aa.acousticLogProb, log(0.9 * 0.9 * 0.9), accuracy: 1e-5)
    }

    func testLMFusionPicksTheSpellingInTheLanguageModel() throws {
        let arpa = #"""
        \data\
        ngram 1=6
        ngram 2=4

        \1-grams:
        -0.8	<s>	-0.3
        -0.7	</s>	0
        -3.0	<unk>	0
        -1.0	cat	-0.2
        -1.2	the	-0.2
        -1.2	kit	-0.2

        \2-grams:
        -0.1	<s> the
        -0.2	the cat
        -0.3	cat </s>
        -0.3	<unk> </s>

        \end\
        """#
        let lm = try NGramLM(arpa: arpa)
        // "the" then a word that sounds like "kat" (k slightly ahead of c), then the end.
        var frames: [[Float]] = []
        for ch in ["t", "h", "e", " "] { frames.append(frame([ch: 0.98, "_": 0.02])); frames.append(frame(["_": 0.98, ch: 0.02])) }
        frames.append(frame(["k": 0.51, "c": 0.49]))
        for ch in ["a", "t"] { frames.append(frame(["_": 0.98, ch: 0.02])); frames.append(frame([ch: 0.98, "_": 0.02])) }
        frames.append(frame(["_": 0.999, "t": 0.001]))
        let m = matrix(frames)
        XCTAssertEqual(textOf(CTCGreedyDecoder.decode(m)), "the kat")
        XCTAssertEqual(textOf(CTCPrefixBeamSearch.decode(m, vocabulary: charVocab, lm: nil)), "the kat")
        let fused = CTCPrefixBeamSearch.decode(m, vocabulary: charVocab, lm: lm, options: CTCBeamSearchOptions(alpha: 0.5, beta: 0.5))
        XCTAssertEqual(textOf(fused), "the cat")
        // with a fixed (mild) OOV penalty instead of the <unk> probability the acoustics win again
        let mild = CTCPrefixBeamSearch.decode(m, vocabulary: charVocab, lm: lm,
                                              options: CTCBeamSearchOptions(alpha: 0.5, beta: 0.5, unknownWordLogProb: 0))
        XCTAssertEqual(textOf(mild), "the kat")

        // The same inside a stream: once a space follows, the word is scored and "cat" wins.
        var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: CTCBeamSearchOptions(alpha: 0.5, beta: 0.5))
        for f in frames { d.accept(f) }
        d.accept(frame([" ": 0.98, "_": 0.02]))
        d.accept(frame(["_": 0.98, " ": 0.02]))
        XCTAssertEqual(textOf(d.tokens), "the cat ")
    }

    func testLMContextDecidesBetweenHomophoneSpellings() throws {
        // Acoustically "red"/"read" are equally likely ("e" then either "a" or nothing). After "i",
        // the bigram prefers "read"; after "the", "red".
        let lm = try NGramLM(arpa: smallARPA)
        func decode(_ first: String) -> String {
            var frames: [[Float]] = []
            for ch in first + " r" { frames.append(frame([String(ch): 0.97, "_": 0.03])); frames.append(frame(["_": 0.97, String(ch): 0.03])) }
            frames.append(frame(["e": 0.97, "_": 0.03]))
            frames.append(frame(["a": 0.5, "_": 0.5]))
            frames.append(frame(["d": 0.97, "_": 0.03]))
            frames.append(frame(["_": 0.97, "d": 0.03]))
            return textOf(CTCPrefixBeamSearch.decode(matrix(frames), vocabulary: charVocab, lm: lm,
                                                     options: CTCBeamSearchOptions(alpha: 1.0, beta: 0)))
        }
        XCTAssertEqual(decode("i"), "i read")
        XCTAssertEqual(decode("the"), "the red")
    }

    func testDelimitersAreNeitherDoubledNorLeading() {
        // space, a, space, blank, space, b: greedy reads " a  b"; the beam keeps one spelling "a b".
        let frames = [frame([" ": 0.9, "_": 0.1]), frame(["a": 0.9, "_": 0.1]), frame([" ": 0.9, "_": 0.1]),
                      frame(["_": 0.9, " ": 0.1]), frame([" ": 0.9, "_": 0.1]), frame(["b": 0.9, "_": 0.1])]
        XCTAssertEqual(textOf(CTCGreedyDecoder.decode(matrix(frames))), " a  b")
        var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil, options: .exact())
        for f in frames { d.accept(f) }
        XCTAssertEqual(textOf(d.finalize()), "a b")
        XCTAssertEqual(d.finalize().map(\.frame), [1, 2, 5])
        XCTAssertFalse(d.hypotheses.contains { textOf($0.tokens).contains("  ") || textOf($0.tokens).hasPrefix(" ") })
        // all alignments are counted: the labelling "a b" collects every way of spacing it
        XCTAssertEqual(d.hypotheses.map(\.acousticLogProb).reduce(-Double.infinity) { max($0, $1) }, d.hypotheses[0].acousticLogProb)
    }

    func testOutOfVocabularyPartialWordIsChargedEarlyWithTheSameTotal() throws {
        let lm = try NGramLM(arpa: handARPA)   // words: the, cat
        let options = CTCBeamSearchOptions(alpha: 0.5, beta: 0.25)
        var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: options)
        func spell(_ s: String) { for ch in s { d.accept(frame([String(ch): 0.98, "_": 0.02])); d.accept(frame(["_": 0.98, String(ch): 0.02])) } }
        let the = Double(lm.score(lm.wordId("the")!, history: [lm.bos]))
        let unkAfterThe = Double(lm.score(lm.unk, history: [lm.bos, lm.wordId("the")!]))
        spell("the c")
        XCTAssertEqual(d.hypotheses[0].lmScore, 0.5 * the + 0.25, accuracy: 1e-5)   // "c" can still become "cat"
        spell("o")
        XCTAssertEqual(textOf(d.tokens), "the co")
        XCTAssertEqual(d.hypotheses[0].lmScore, 0.5 * the + 0.25 + 0.5 * unkAfterThe, accuracy: 1e-5)  // no word starts "co"
        spell("w ")
        XCTAssertEqual(textOf(d.tokens), "the cow ")
        XCTAssertEqual(d.hypotheses[0].lmScore, 0.5 * (the + unkAfterThe) + 0.5, accuracy: 1e-5)  // not charged twice
    }

    func testRecombinationKeepsOneOfPrefixesWithTheSameFuture() throws {
        // "the cat sat on the" / "the kat sat on the": once both end in the same trigram context
        // ("on the") and symbol, their order is final; recombination keeps only the better one.
        let lm = try NGramLM(arpa: smallARPA)
        var frames: [[Float]] = []
        func spell(_ s: String) { for ch in s { frames.append(frame([String(ch): 0.98, "_": 0.02])); frames.append(frame(["_": 0.98, String(ch): 0.02])) } }
        spell("the ")
        frames.append(frame(["c": 0.5, "k": 0.5]))
        spell("at sat on the ")
        for recombine in [true, false] {
            var options = CTCBeamSearchOptions(beamWidth: 8, alpha: 0.5, beta: 1.0)
            options.recombine = recombine
            var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: options)
            for f in frames { d.accept(f) }
            let texts = d.hypotheses.map { textOf($0.tokens) }
            XCTAssertEqual(texts[0], "the cat sat on the ")
            XCTAssertEqual(texts.contains("the kat sat on the "), !recombine, "\(texts)")
            if recombine { XCTAssertTrue(textOf(d.stableTokens).hasPrefix("the cat sat")) }  // "cat" is decided
        }
    }

    func testStreamingEqualsBatchAndResetRestarts() throws {
        let lm = try NGramLM(arpa: smallARPA)
        var rng = SeededRandom(seed: 11)
        let text = "the cat sat on the mat i saw a dog on the road she read the red book"
        let logits = matrix(synthesize(text, rng: &rng, sharp: 5, noise: 1.0, confusion: 0.3))
        let options = CTCBeamSearchOptions(beamWidth: 8, alpha: 0.8, beta: 1.0)
        let batch = CTCPrefixBeamSearch.decode(logits, vocabulary: charVocab, lm: lm, options: options)
        XCTAssertFalse(batch.isEmpty)
        var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: options)
        for pass in 0..<2 {
            logits.data.withUnsafeBufferPointer { p in
                for t in 0..<logits.rows {
                    d.accept(UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)]))
                    // reading partial results (and even finalizing) mid-stream must not disturb the search
                    _ = d.tokens
                    _ = d.stableTokens
                    if t % 7 == 0 { _ = d.finalize() }
                }
            }
            XCTAssertEqual(d.finalize(), batch, "pass \(pass)")
            XCTAssertEqual(d.framesSeen, logits.rows)
            d.reset()
            XCTAssertEqual(d.tokens, [])
        }
        print("streaming test: reference '\(text)'\n  greedy '\(textOf(CTCGreedyDecoder.decode(logits)))'\n  beam+LM '\(textOf(batch))'")
    }

    func testCompactionDoesNotChangeTheResult() throws {
        let lm = try NGramLM(arpa: smallARPA)
        var rng = SeededRandom(seed: 5)
        let text = Array(repeating: "the dog ran on the road and the cat sat on my bed", count: 6).joined(separator: " ")
        let logits = matrix(synthesize(text, rng: &rng, sharp: 5, noise: 1.0, confusion: 0.2))
        var small = CTCBeamSearchOptions(beamWidth: 8, alpha: 0.8, beta: 1.0)
        small.compactionThreshold = 64
        var large = small
        large.compactionThreshold = 1 << 30
        let a = CTCPrefixBeamSearch.decode(logits, vocabulary: charVocab, lm: lm, options: small)
        let b = CTCPrefixBeamSearch.decode(logits, vocabulary: charVocab, lm: lm, options: large)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(logits.rows, 600)
    }

    func testStablePrefixNeverRetractsAndMeasureWordRetractions() throws {
        // Partial stability on noisy synthetic posteriors: how often do the completed words of the
        // best prefix change between consecutive frames, and does `stableTokens` ever retract?
        let lm = try NGramLM(arpa: smallARPA)
        var rng = SeededRandom(seed: 3)
        var frames = 0, retractions = 0, stableLagWords = 0
        for _ in 0..<20 {
            let sentence = smallCorpus.split(separator: "\n").shuffled(using: &rng).prefix(3).joined(separator: " ")
            let logits = matrix(synthesize(sentence, rng: &rng, sharp: 5, noise: 1.0, confusion: 0.3))
            var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: CTCBeamSearchOptions(beamWidth: 8, alpha: 0.8, beta: 1.0))
            var previousWords: [String] = []
            var previousStable: [Int] = []
            logits.data.withUnsafeBufferPointer { p in
                for t in 0..<logits.rows {
                    d.accept(UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)]))
                    let words = completedWords(d.tokens)
                    if words.count < previousWords.count || Array(words.prefix(previousWords.count)) != previousWords { retractions += 1 }
                    previousWords = words
                    let stable = d.stableTokens.map(\.token)
                    XCTAssertEqual(Array(stable.prefix(previousStable.count)), previousStable, "stable prefix retracted at frame \(t)")
                    XCTAssertEqual(Array(d.tokens.map(\.token).prefix(stable.count)), stable)
                    previousStable = stable
                    stableLagWords += words.count - completedWords(d.stableTokens).count
                    frames += 1
                }
            }
            let final = d.finalize().map(\.token)
            XCTAssertEqual(Array(final.prefix(previousStable.count)), previousStable)
        }
        let rate = Double(retractions) / Double(frames)
        print(String(format: "partial stability: best prefix retracted a completed word in %d of %d frames (%.2f%%); "
                     + "stable prefix lags the best by %.2f completed words on average", retractions, frames, 100 * rate,
                     Double(stableLagWords) / Double(frames)))
        XCTAssertLessThan(rate, 0.05)
    }

    func testPartialMarginTradesRetractionsForDelay() throws {
        // partialTokens with margin m is the common prefix of the hypotheses within m of the best:
        // always a prefix of the best, shorter as m grows, the best itself at 0, stableTokens at ∞
        // (which never retracts); on noisy posteriors a larger margin retracts fewer words.
        let lm = try NGramLM(arpa: smallARPA)
        let margins: [Double] = [0, 2, 5, .infinity]
        var retracted = [Int](repeating: 0, count: margins.count), shown = retracted
        var rng = SeededRandom(seed: 11)
        for _ in 0..<20 {
            let sentence = smallCorpus.split(separator: "\n").shuffled(using: &rng).prefix(3).joined(separator: " ")
            let logits = matrix(synthesize(sentence, rng: &rng, sharp: 5, noise: 1.0, confusion: 0.3))
            var decoders = margins.map { m -> CTCPrefixBeamSearch in
                var o = CTCBeamSearchOptions(beamWidth: 8, alpha: 0.8, beta: 1.0)
                o.partialMargin = m
                return CTCPrefixBeamSearch(vocabulary: charVocab, lm: lm, options: o)
            }
            var previous = [[String]](repeating: [], count: margins.count)
            logits.data.withUnsafeBufferPointer { p in
                for t in 0..<logits.rows {
                    let row = UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])
                    var lengths: [Int] = []
                    for i in margins.indices {
                        decoders[i].accept(row)
                        let partial = decoders[i].partialTokens.map(\.token)
                        let best = decoders[i].tokens.map(\.token)
                        XCTAssertEqual(Array(best.prefix(partial.count)), partial, "partial is not a prefix of the best")
                        XCTAssertEqual(partial, decoders[i].agreedTokens(margin: margins[i]).map(\.token))
                        if margins[i] == 0 { XCTAssertEqual(partial, best) }
                        if margins[i] == .infinity { XCTAssertEqual(partial, decoders[i].stableTokens.map(\.token)) }
                        // same decoder state for every margin, so the prefixes nest
                        lengths.append(decoders[i].agreedTokens(margin: margins[i]).count)
                        let words = completedWords(decoders[i].partialTokens)
                        let done = previous[i]
                        retracted[i] += zip(done.indices, done).filter { $0 >= words.count || words[$0] != $1 }.count
                        shown[i] += done.count
                        previous[i] = words
                    }
                    XCTAssertEqual(lengths, lengths.sorted(by: >), "a larger margin must not show more")
                }
            }
        }
        print("partial margin 0/2/5/inf: retracted \(retracted) of \(shown) completed words shown")
        XCTAssertEqual(retracted[3], 0)
        XCTAssertGreaterThan(retracted[0], 0, "the posteriors are too clean to test anything")
        XCTAssertLessThan(retracted[2], retracted[0])
    }

    func testThroughput() throws {
        // µs per 40 ms frame for beam 8, V = 29 (debug builds are several times slower than release).
        let lm = try NGramLM(arpa: smallARPA)
        var rng = SeededRandom(seed: 1)
        let text = Array(repeating: smallCorpus.replacingOccurrences(of: "\n", with: " "), count: 3).joined(separator: " ")
        let logits = matrix(synthesize(text, rng: &rng, sharp: 5, noise: 1.0, confusion: 0.3))
        for (name, model) in [("no LM", nil), ("trigram LM", lm)] as [(String, NGramLM?)] {
            var d = CTCPrefixBeamSearch(vocabulary: charVocab, lm: model, options: CTCBeamSearchOptions(beamWidth: 8))
            let start = Date()
            logits.data.withUnsafeBufferPointer { p in
                for t in 0..<logits.rows { d.accept(UnsafeBufferPointer(rebasing: p[(t * logits.cols)..<((t + 1) * logits.cols)])) }
            }
            _ = d.finalize()
            let us = Date().timeIntervalSince(start) / Double(logits.rows) * 1e6
            print(String(format: "beam search throughput (%@, beam 8, V=29): %.1f µs per frame over %d frames", name, us, logits.rows))
        }
    }

    func testProtocolLetsTheRecognizerSwapDecoders() {
        var decoders: [any CTCDecoding] = [CTCGreedyDecoder(), CTCPrefixBeamSearch(vocabulary: charVocab, lm: nil)]
        let frames = [frame(["h": 0.9, "_": 0.1]), frame(["_": 0.9, "h": 0.1]), frame(["i": 0.9, "_": 0.1])]
        for i in decoders.indices {
            for f in frames { decoders[i].accept(f) }
            XCTAssertEqual(textOf(decoders[i].tokens), "hi")
            XCTAssertEqual(textOf(decoders[i].finalize()), "hi")
            XCTAssertEqual(decoders[i].stableTokens.count <= 2, true)
            decoders[i].reset()
            XCTAssertEqual(decoders[i].tokens, [])
        }
    }
}

/// Words followed by a delimiter.
func completedWords(_ tokens: [EmittedToken]) -> [String] {
    let s = textOf(tokens)
    guard let lastSpace = s.lastIndex(of: " ") else { return [] }
    return s[..<lastSpace].split(separator: " ").map(String.init)
}
