import Foundation
import SSMDecoding
import XCTest

let ln10 = Float(M_LN10)

/// A hand-written trigram model; expected values below are worked out by the ARPA backoff rule.
let handARPA = #"""
This line is a header and is ignored.

\data\
ngram 1=5
ngram 2=3
ngram 3=1

\1-grams:
-1.0	<s>	-0.5
-0.5	</s>
-0.8	the	-0.3
-1.2	cat	-0.2
-1.5	<unk>

\2-grams:
-0.2	<s> the	-0.1
-0.4	the cat	-0.25
-0.6	cat </s>

\3-grams:
-0.05	<s> the cat

\end\
"""#

final class NGramLMTests: XCTestCase {
    func testHandComputedBackoffScores() throws {
        let lm = try NGramLM(arpa: handARPA)
        XCTAssertEqual(lm.order, 3)
        XCTAssertEqual(lm.counts, [5, 3, 1])
        XCTAssertTrue(lm.hasUnknownWord)
        let s = lm.bos, the = lm.wordId("the")!, cat = lm.wordId("cat")!
        XCTAssertNil(lm.wordId("dog"))
        func check(_ w: Int32, _ h: [Int32], _ log10: Float, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(lm.score(w, history: h), log10 * ln10, accuracy: 1e-5, file: file, line: line)
        }
        check(cat, [s, the], -0.05)               // listed trigram
        check(lm.eos, [the, cat], -0.25 - 0.6)    // bo(the cat) + p(</s> | cat)
        check(the, [s, the], -0.1 - 0.3 - 0.8)    // bo(<s> the) + bo(the) + p(the)
        check(cat, [cat], -0.2 - 1.2)             // bo(cat) + p(cat)
        check(cat, [], -1.2)
        check(-7, [s], -0.5 - 1.5)                // out-of-vocabulary id → <unk>
        check(the, [cat, s], -0.2)                // only the last order − 1 words matter
        check(lm.eos, [lm.eos], -0.5)             // context without backoff entry: weight 1

        // states: the longest suffix the model knows, at most order − 1 words
        let r1 = lm.score(the, state: lm.beginState)
        XCTAssertEqual(r1.next.ids, [s, the])
        let r2 = lm.score(cat, state: r1.next)
        XCTAssertEqual(r2.next.ids, [the, cat])
        XCTAssertEqual(lm.score(cat, state: LMState([cat])).next.ids, [cat])
        XCTAssertEqual(lm.sentenceLogProb(["the", "cat"]), (-0.2 - 0.05 - 0.85) * ln10, accuracy: 1e-5)
    }

    func testParseErrorsNameTheLine() {
        func expectError(_ text: String, line: Int, containing: String, file: StaticString = #filePath, l: UInt = #line) {
            XCTAssertThrowsError(try NGramLM(arpa: text), file: file, line: l) { error in
                guard let e = error as? LMError else { return XCTFail("not an LMError: \(error)", file: file, line: l) }
                XCTAssertEqual(e.line, line, "\(e)", file: file, line: l)
                XCTAssertTrue(e.description.contains("line \(line)"), e.description, file: file, line: l)
                XCTAssertTrue(e.description.contains(containing), e.description, file: file, line: l)
            }
        }
        let head = "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n"  // lines 1-5
        expectError(head + "-1.0\t<s>\t-0.5\nabc\t</s>\n\n\\2-grams:\n-0.1\t<s> </s>\n\\end\\\n", line: 7, containing: "invalid probability")
        expectError(head + "-1.0\t<s>\t-0.5\n-0.3\n", line: 7, containing: "fields")
        expectError(head + "-1.0\t<s>\t-0.5\n-0.3\t</s>\n\n\\2-grams:\n-0.1\t<s> dog\n\\end\\\n", line: 10, containing: "'dog'")
        expectError(head + "-1.0\t<s>\t-0.5\n\n\\2-grams:\n", line: 8, containing: "declares 2 1-grams but the section has 1")
        expectError(head + "-1.0\t<s>\t-0.5\n-0.3\t</s>\n\n\\2-grams:\n-0.1\t<s> </s>\n", line: 11, containing: "missing \\end\\")
        expectError(head + "-1.0\t<s>\t-0.5\n-0.3\t</s>\n\n\\2-grams:\n-0.1\t<s> </s>\t-0.2\tjunk\n", line: 10, containing: "fields")
        expectError(head + "-1.0\t<s>\t-0.5\n-1.0\t<s>\n", line: 7, containing: "duplicate")
        expectError(head + "-1.0\t<s>\t-0.5\n-0.3\t</s>\n\n\\3-grams:\n", line: 9, containing: "expected \\2-grams:")
        expectError(head + "-1.0\t<s>\t-x\n", line: 6, containing: "invalid backoff")
        expectError(head + "0.5\t<s>\n", line: 6, containing: "positive")
        expectError("\\data\\\nngram 1=2\nngram 3=1\n", line: 3, containing: "ngram 2")
        expectError("\\data\\\nngram 1=1\nbanana\n", line: 3, containing: "unexpected line")
        expectError("\\data\\\nngram x=1\n", line: 2, containing: "malformed count")
        expectError("hello\nworld\n", line: 2, containing: "no \\data\\")
        let six = "\\data\\\n" + (1...6).map { "ngram \($0)=1" }.joined(separator: "\n") + "\n"
        expectError(six, line: 7, containing: "at most 5")
        XCTAssertThrowsError(try NGramLM(contentsOf: "/nonexistent/lm.arpa")) { error in
            XCTAssertEqual(error as? LMError, .cannotRead(path: "/nonexistent/lm.arpa", reason: "no such file"))
        }
    }

    func testBuilderOutputSumsToOne() throws {
        // ARPA written by Training/lm/build_arpa.py: every conditional distribution sums to one
        // (over the vocabulary without <s>), for every context in the model and for unseen ones.
        let lm = try NGramLM(arpa: smallARPA)
        XCTAssertEqual(lm.order, 3)
        XCTAssertEqual(lm.counts, [32, 78, 87])
        let vocab = (0..<Int32(lm.vocabularySize)).filter { $0 != lm.bos }
        var contexts: [[Int32]] = [[], [lm.bos]]
        for line in smallCorpus.split(separator: "\n") {
            let ids = [lm.bos] + line.split(separator: " ").map { lm.wordId(String($0))! }
            for i in 0..<ids.count {
                contexts.append([ids[i]])
                if i + 1 < ids.count { contexts.append([ids[i], ids[i + 1]]) }
            }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<30 { contexts.append([vocab.randomElement(using: &rng)!, vocab.randomElement(using: &rng)!]) }
        for h in contexts {
            let total = vocab.reduce(0.0) { $0 + exp(Double(lm.score($1, history: h))) }
            XCTAssertEqual(total, 1, accuracy: 1e-3, "context \(h.map { lm.words[Int($0)] })")
        }
        // a value from the file: p(sat | the cat) is listed
        let line = smallARPA.split(separator: "\n").first { $0.hasSuffix("\tthe cat sat") }!
        let log10p = Float(line.split(separator: "\t")[0])!
        XCTAssertEqual(lm.score(lm.wordId("sat")!, history: [lm.wordId("the")!, lm.wordId("cat")!]), log10p * ln10, accuracy: 1e-5)
    }

    func testMissingPrefixesAreAddedAndTablesGrow() throws {
        // 300 trigrams whose bigram prefixes are not listed: the loader inserts empty prefix entries,
        // growing the (declared-size) bigram table several times and re-keying the trigram table.
        var lines = ["\\data\\", "ngram 1=40", "ngram 2=1", "ngram 3=300", "", "\\1-grams:"]
        for i in 0..<40 { lines.append("-1.6\tw\(i)\t-0.\(i % 9 + 1)") }
        lines += ["", "\\2-grams:", "-0.7\tw0 w1\t-0.3", "", "\\3-grams:"]
        var trigrams: [(Int, Int, Int, Float)] = []
        var seen = Set<[Int]>()
        var rng = SystemRandomNumberGenerator()
        while trigrams.count < 300 {
            let a = Int.random(in: 0..<40, using: &rng), b = Int.random(in: 0..<40, using: &rng), c = Int.random(in: 0..<40, using: &rng)
            guard seen.insert([a, b, c]).inserted else { continue }
            let p = -Float(Int.random(in: 1...999, using: &rng)) / 1000
            trigrams.append((a, b, c, p))
            lines.append("\(p)\tw\(a) w\(b) w\(c)")
        }
        lines += ["", "\\end\\", ""]
        let lm = try NGramLM(arpa: lines.joined(separator: "\n"))
        XCTAssertFalse(lm.hasUnknownWord)
        for (a, b, c, p) in trigrams {
            let ids = [a, b, c].map { lm.wordId("w\($0)")! }
            XCTAssertEqual(lm.score(ids[2], history: [ids[0], ids[1]]), p * ln10, accuracy: 1e-5)
        }
        // a bigram that is only an inserted prefix is not a probability: it backs off (weight 1)
        let (a, b, _, _) = trigrams.first { !($0.0 == 0 && $0.1 == 1) }!
        let wa = lm.wordId("w\(a)")!, wb = lm.wordId("w\(b)")!
        XCTAssertEqual(lm.score(wb, history: [wa]), (-Float(a % 9 + 1) / 10 - 1.6) * ln10, accuracy: 1e-5)
        // <unk> was not listed: added with log10 −100
        XCTAssertEqual(lm.score(-1, history: []), -100 * ln10, accuracy: 1e-3)
    }

    func testLoadFromFileAndNumberFormats() throws {
        let text = "\\data\\\r\nngram 1 = 3\r\n\r\n\\1-grams:\r\n-1.5E-1   <s>  -2e0\r\n-inf\t</s>\r\n-.25\tword\r\n\r\n\\end\\\r\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ssm-lm-\(getpid()).arpa").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lm = try NGramLM(contentsOf: path)
        XCTAssertEqual(lm.order, 1)
        XCTAssertEqual(lm.score(lm.wordId("word")!, history: []), -0.25 * ln10, accuracy: 1e-6)
        XCTAssertEqual(lm.score(lm.eos, history: []), -.infinity)
        XCTAssertEqual(lm.words.prefix(3), ["<s>", "</s>", "word"])
    }

    /// Load time of a large ARPA file named by `SSM_LM_BENCH_ARPA` (skipped when unset).
    func testLoadSpeedOfLargeModel() throws {
        guard let path = ProcessInfo.processInfo.environment["SSM_LM_BENCH_ARPA"] else {
            throw XCTSkip("set SSM_LM_BENCH_ARPA to an ARPA file to time loading")
        }
        let t0 = Date()
        let lm = try NGramLM(contentsOf: path)
        let t1 = Date()
        var st = lm.beginState
        var total: Float = 0
        let n = 1_000_000
        for i in 0..<n {
            let r = lm.score(Int32(3 + (i &* 7919) % (lm.vocabularySize - 3)), state: st)
            total += r.lnProb
            st = r.next
        }
        let t2 = Date()
        print(String(format: "LM load: %.2f s for %@ (orders %@); %.3f µs per score (sum %.1f)",
                     t1.timeIntervalSince(t0), path, lm.counts.description, t2.timeIntervalSince(t1) / Double(n) * 1e6, total))
    }
}
