import Foundation
import XCTest
@testable import SSMSynthesis

/// `TextNormalizer.expand` must give exactly what `normalize.expand` (Python) gives: the fixture
/// `Tests/Fixtures/text_normalization.tsv` is written by `Training/tts/export_text_fixture.py`.
final class TextNormalizerTests: XCTestCase {
    static let fixtureURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/text_normalization.tsv")
        .standardizedFileURL

    /// Rows of the fixture: header line `input<TAB>expected`, then one row per line; in both
    /// columns `\\`, `\t`, `\n`, `\r` stand for a backslash, TAB, line feed and carriage return.
    static func loadFixture() throws -> [(input: String, expected: String)] {
        let data = try Data(contentsOf: fixtureURL)
        var rows: [(String, String)] = []
        // Split on the bytes themselves: as Characters, "\r\n" would be one.
        for (number, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if number == 0 || line.isEmpty { continue }  // header, final newline
            let columns = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard columns.count == 2,
                  let input = String(bytes: columns[0], encoding: .utf8),
                  let expected = String(bytes: columns[1], encoding: .utf8) else {
                XCTFail("fixture line \(number + 1) is malformed")
                continue
            }
            rows.append((unescape(input), unescape(expected)))
        }
        return rows
    }

    static func unescape(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        var it = s.unicodeScalars.makeIterator()
        while let c = it.next() {
            guard c == "\\", let e = it.next() else { out.append(c); continue }
            switch e {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            default: out.append(e)  // "\\"
            }
        }
        return String(out)
    }

    /// Scalar-exact comparison (Swift's `==` on String treats canonically equivalent strings as equal).
    static func same(_ a: String, _ b: String) -> Bool { Array(a.unicodeScalars) == Array(b.unicodeScalars) }

    func testMatchesPythonFixture() throws {
        let rows = try Self.loadFixture()
        XCTAssertGreaterThan(rows.count, 500, "fixture \(Self.fixtureURL.path) looks truncated")
        var failures = 0
        for (input, expected) in rows {
            let got = TextNormalizer.expand(input)
            if !Self.same(got, expected) {
                failures += 1
                XCTFail("""
                    expand mismatch
                      input:    \(input.debugDescription)
                      expected: \(expected.debugDescription)
                      got:      \(got.debugDescription)
                    """)
            }
        }
        if failures > 0 { print("TextNormalizer: \(failures) of \(rows.count) fixture rows differ") }
    }

    func testHandPickedCases() {
        let cases: [(String, String)] = [
            ("$3.50", "three dollars and fifty cents"),
            ("In 1999 we paid €1.5 million.", "In nineteen ninety nine we paid one point five million euros."),
            ("Dr. Smith arrives at 10:30 a.m. on the 2nd.", "Doctor Smith arrives at ten thirty a m on the second."),
            ("Call 555-1234.", "Call five five five, one two three four."),
            ("the '80s", "the eighties"),
            ("", ""),
        ]
        for (input, expected) in cases {
            XCTAssertTrue(Self.same(TextNormalizer.expand(input), expected),
                          "expand(\(input.debugDescription)) = \(TextNormalizer.expand(input).debugDescription), expected \(expected.debugDescription)")
        }
    }

    /// Text that is already in spoken form passes through unchanged.
    func testSpokenTextIsUnchanged() {
        for text in ["There are thirty three eggs in the office.",
                     "He joined the defense against invasion.",
                     "Doctor Smith paid three dollars and fifty cents, didn't he?"] {
            XCTAssertTrue(Self.same(TextNormalizer.expand(text), text), "expand changed \(text.debugDescription)")
        }
        let once = TextNormalizer.expand("On Jan. 5, 2024 at 10:30 a.m. Mr. Lee paid $3.50.")
        XCTAssertTrue(Self.same(once, "On January five, twenty twenty four at ten thirty a m Mister Lee paid three dollars and fifty cents."),
                      once.debugDescription)
        XCTAssertTrue(Self.same(TextNormalizer.expand(once), once), "not idempotent: \(once.debugDescription)")
    }
}
