import Foundation
import XCTest
@testable import SSMSynthesis

/// A word with no end (1 MB of one letter on one line) used to become one utterance whose phonemes,
/// tokens and acoustic plan grew with it: 1.3 GB and 16 s before any audio. The front end now cuts words
/// longer than `TextFrontEnd.maxWordCharacters` into pieces before phonemization (issue: reliability,
/// class 13).
final class OverlongWordTests: XCTestCase {
    /// Records what the phonemizer is asked, and answers with the text itself (letters are in the vocab).
    final class Recorder: Phonemizer, @unchecked Sendable {
        let lock = NSLock()
        var clauses: [String] = []
        func phonemes(_ clause: String) throws -> String {
            lock.withLock { clauses.append(clause) }
            return clause
        }
    }

    func frontEnd(_ recorder: Recorder) throws -> TextFrontEnd {
        try TextFrontEnd(vocab: ["^", "$", " ", ",", ".", "?", "!"] + "abcdefghijklmnopqrstuvwxyz".map { String($0) },
                         phonemizer: recorder)
    }

    func testSplitOverlong() {
        XCTAssertEqual(TextFrontEnd.splitOverlong("short"), ["short"])
        let forty = String(repeating: "x", count: 40)
        XCTAssertEqual(TextFrontEnd.splitOverlong(forty), [Substring(forty)])
        XCTAssertEqual(TextFrontEnd.splitOverlong(String(repeating: "y", count: 41)).map(\.count), [21, 20])
        XCTAssertEqual(TextFrontEnd.splitOverlong(String(repeating: "z", count: 100)).map(\.count), [34, 33, 33])
        // Grapheme clusters stay whole.
        let accented = String(repeating: "e\u{301}", count: 45)
        XCTAssertEqual(TextFrontEnd.splitOverlong(accented).map(\.count), [23, 22])
        XCTAssertEqual(TextFrontEnd.splitOverlong(accented).joined(), accented)
    }

    /// 100 000 letters in one word: every clause the phonemizer sees has words of at most 40 characters,
    /// no letter is lost, and every utterance stays short.
    func testOneHugeWordIsCutIntoBoundedUtterances() throws {
        let recorder = Recorder()
        let fe = try frontEnd(recorder)
        let utterances = try fe.utterances(String(repeating: "a", count: 100_000))
        let words = recorder.clauses.flatMap { $0.split(separator: " ") }
        XCTAssertEqual(words.map(\.count).max(), TextFrontEnd.maxWordCharacters)
        XCTAssertEqual(words.map(\.count).reduce(0, +), 100_000)
        XCTAssertEqual(utterances.count, 100)  // 2 500 pieces of 40, 25 per utterance
        XCTAssertLessThanOrEqual(utterances.map(\.count).max() ?? 0, 25 * 41 + 2)
    }

    /// `forEachUtterance` hands each utterance over as soon as it is phonemized, and stops when asked:
    /// the first of a megabyte-long word needs one call to the phonemizer, not 1 000.
    func testForEachUtteranceStopsEarly() throws {
        let recorder = Recorder()
        let fe = try frontEnd(recorder)
        let text = String(repeating: "a", count: 100_000)
        var got: [[Int32]] = []
        try fe.forEachUtterance(text) { got.append($0); return false }
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(recorder.clauses.count, 1)
        XCTAssertEqual(got.first, try fe.utterances(text).first)
    }

    /// Ordinary text reaches the phonemizer unchanged.
    func testOrdinaryTextIsNotCut() throws {
        let recorder = Recorder()
        _ = try frontEnd(recorder).utterances("The birch canoe slid on the smooth planks. Antidisestablishmentarianism, indeed!")
        XCTAssertEqual(recorder.clauses, ["The birch canoe slid on the smooth planks", "Antidisestablishmentarianism", "indeed"])
    }
}
