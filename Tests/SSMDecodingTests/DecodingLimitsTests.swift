import Foundation
import SSMDecoding
import SSMTensor
import XCTest

/// Reliability classes 1–3 and 15 at the decoding module: non-finite scores never trap a decoder,
/// `decoding.json` and the ARPA reader check their numbers and counts before using or reserving them,
/// and loader errors name the file.
final class DecodingLimitsTests: XCTestCase {
    let vocab = ["<blank>", " ", "a", "b", "c"]

    /// Frames with NaN, ±inf and 1e30-sized logits, between ordinary ones.
    var hostileFrames: [[Float]] {
        let n = Float.nan, inf = Float.infinity
        return [
            [0, -1, 3, -2, -2], [n, n, n, n, n], [2, -1, -2, 3, -1], [n, 0, 1, n, 2], [inf, 0, 0, 0, 0],
            [0, inf, inf, 0, n], [-inf, -inf, -inf, -inf, -inf], [1e30, -1e30, 1e30, 0, 0], [0, 0, -inf, inf, n],
            [3, -2, -2, -2, -2], [-1, -2, -2, -2, 4], [3, -2, -2, -2, -2],
        ]
    }

    /// A model whose weights overflow gives NaN or infinite logits; the prefix beam search used to end with
    /// an empty beam and trap indexing it (`agreedTokens`). Now a frame of NaN or −∞ only is a certain
    /// blank, +∞ logits share the frame, NaN logits count as impossible: every query gives a result.
    func testBeamSearchSurvivesNonFiniteLogits() throws {
        let lm = try NGramLM(arpa: """
            \\data\\
            ngram 1=5

            \\1-grams:
            -0.5\t<s>\t-0.3
            -0.5\t</s>
            -0.6\tab\t-0.2
            -0.7\tc
            -inf\tcab

            \\end\\
            """)
        for model in [nil, lm] as [NGramLM?] {
            for margin in [0, 5, Double.infinity] {
                var o = CTCBeamSearchOptions(beamWidth: 4)
                o.partialMargin = margin
                var d = CTCPrefixBeamSearch(vocabulary: vocab, lm: model, options: o)
                for f in hostileFrames {
                    d.accept(f)
                    for t in d.tokens + d.partialTokens + d.stableTokens { XCTAssertTrue(vocab.indices.contains(t.token)) }
                    XCTAssertFalse(d.hypotheses.isEmpty)
                }
                let result = d.finalize()
                for t in result { XCTAssertTrue(vocab.indices.contains(t.token)) }
                if model == nil { XCTAssertEqual(result.last?.token, 4, "the last frames' 'c' survives") }
            }
        }
        // Every logit NaN from the first frame on: blank, an empty result.
        var d = CTCPrefixBeamSearch(vocabulary: vocab, lm: nil, options: CTCBeamSearchOptions(beamWidth: 8))
        for _ in 0..<20 { d.accept([Float](repeating: .nan, count: vocab.count)) }
        XCTAssertEqual(d.finalize(), [])
        XCTAssertEqual(d.partialTokens, [])
    }

    /// Finite frames decode exactly as before; a frame of NaN only is the same as a frame of certain blank.
    func testFiniteLogitsAreUnchangedAndNaNFramesAreBlank() {
        let frames: [[Float]] = [[0, -1, 3, -2, -2], [2, -1, -2, 3, -1], [3, -2, -2, -2, -2], [-1, -2, -2, -2, 4]]
        let withNaN = Array(frames[..<2]) + [[Float](repeating: .nan, count: 5)] + Array(frames[2...])
        let withBlank = Array(frames[..<2]) + [[0, -.infinity, -.infinity, -.infinity, -.infinity]] + Array(frames[2...])
        func decode(_ f: [[Float]]) -> [EmittedToken] {
            var d = CTCPrefixBeamSearch(vocabulary: vocab, lm: nil, options: CTCBeamSearchOptions(beamWidth: 8))
            for x in f { d.accept(x) }
            return d.finalize()
        }
        XCTAssertEqual(decode(withNaN), decode(withBlank))
        XCTAssertEqual(decode(frames).map(\.token), [2, 3, 4])
        // Greedy: NaN never wins the arg-max; a frame of NaN only is blank.
        var g = CTCGreedyDecoder()
        for f in withNaN { g.accept(f) }
        XCTAssertEqual(g.tokens.map(\.token), [2, 3, 4])
    }

    // MARK: - decoding.json

    func testDecodingSettingsNumbersHaveRanges() throws {
        let cases: [(String, String)] = [
            (#"{"beam": 1e12}"#, "beam must be at most 1024, got 1000000000000"),
            (#"{"beam": 0}"#, "beam must be at least 1, got 0"),
            (#"{"lm_weight": -100}"#, "lm_weight must be at least 0, got -100"),
            (#"{"word_bonus": 1e30}"#, "word_bonus must be at most 20, got 1e+30"),
            (#"{"unknown_word_log10": 5}"#, "unknown_word_log10 must be at most 0, got 5"),
        ]
        for (json, message) in cases {
            XCTAssertThrowsError(try DecoderSettings.parse(Data(json.utf8), path: "m/decoding.json"), json) { e in
                XCTAssertEqual("\(e)", "cannot use decoding settings 'm/decoding.json': \(message)")
            }
        }
        XCTAssertEqual(try DecoderSettings.parse(Data(#"{"beam": 1024, "lm_weight": 10, "word_bonus": -20}"#.utf8)).beam, 1024)
        // The same ranges bound options set in code.
        var o = CTCBeamSearchOptions()
        XCTAssertNil(o.problem())
        o.alpha = .nan
        XCTAssertEqual(o.problem(), "alpha must be a number between 0 and 10, got nan")
        o.alpha = 1
        o.partialMargin = .infinity
        XCTAssertNil(o.problem())
        o.unknownWordLogProb = .infinity
        XCTAssertEqual(o.problem(naming: { "--" + $0 }), "--unknownWordLog10 must be at most 0, got inf")
    }

    // MARK: - ARPA

    /// `ngram 1=999999999999` used to reserve 4 TB before reading a single n-gram.
    func testDeclaredCountsBeyondTheFileAreRefusedBeforeReserving() throws {
        for (counts, line) in [(["1=999999999999"], 2), (["1=2", "2=99999999"], 3), (["1=2", "2=999999999999999999"], 3)] {
            let text = "\\data\\\n" + counts.map { "ngram \($0)\n" }.joined() + "\n\\1-grams:\n-1.0\t<s>\n-1.0\t</s>\n\\end\\\n"
            XCTAssertThrowsError(try NGramLM(arpa: text)) { e in
                XCTAssertEqual((e as? LMError)?.line, line, "\(e)")
                XCTAssertTrue("\(e)".contains("more than the \(text.utf8.count)-byte file can hold"), "\(e)")
            }
        }
        // A section header with a hundred digits (found by fuzz-config) used to overflow an Int.
        let digits = String(repeating: "5", count: 100)
        XCTAssertThrowsError(try NGramLM(arpa: "\\data\\\nngram 1=1\n\n\\\(digits)-grams:\n-1.0\t<s>\n\\end\\\n")) { e in
            XCTAssertTrue("\(e)".contains("expected \\1-grams:, found \\1000000000-grams:"), "\(e)")
        }
        // A non-finite backoff weight is refused; a −inf probability (zero) is allowed.
        XCTAssertThrowsError(try NGramLM(arpa: "\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\t<s>\tinf\n\\end\\\n")) { e in
            XCTAssertTrue("\(e)".contains("backoff weight inf is not a finite number"), "\(e)")
        }
        XCTAssertNoThrow(try NGramLM(arpa: "\\data\\\nngram 1=1\n\n\\1-grams:\n-inf\t<s>\n\\end\\\n"))
    }

    /// ARPA errors name the file; a directory or an empty name is said so.
    func testLanguageModelErrorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.arpa").path
        try "\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t<s>\nxx\n\\end\\\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try NGramLM(contentsOf: path)) { e in
            XCTAssertEqual((e as? LMError)?.line, 6)
            XCTAssertTrue("\(e)".hasPrefix("invalid language model '\(path)': ARPA line 6: "), "\(e)")
        }
        XCTAssertThrowsError(try NGramLM(contentsOf: dir.path)) { e in
            XCTAssertEqual(e as? LMError, .cannotRead(path: dir.path, reason: "is a directory"))
        }
        XCTAssertThrowsError(try NGramLM(contentsOf: "")) { e in
            XCTAssertEqual("\(e)", "cannot read language model '': empty file name")
        }
        let settings = dir.appendingPathComponent("decoding.json")
        try FileManager.default.createDirectory(at: settings, withIntermediateDirectories: true)
        XCTAssertThrowsError(try DecoderSettings.load(path: settings.path)) { e in
            XCTAssertEqual("\(e)", "cannot use decoding settings '\(settings.path)': is a directory")
        }
    }
}
