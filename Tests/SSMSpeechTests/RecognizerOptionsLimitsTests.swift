import Foundation
import SSMSpeech
import XCTest

/// Reliability class 1 at the front door: every number of `RecognizerOptions` has a finite, documented
/// range, checked by `SpeechRecognizer.init` (and by the command line, with its flag names).
final class RecognizerOptionsLimitsTests: XCTestCase {
    var model: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Resources/models/mamba-30ms").path
    }

    func testEveryOptionIsChecked() throws {
        var cases: [(RecognizerOptions, String)] = []
        func add(_ message: String, _ edit: (inout RecognizerOptions) -> Void) {
            var o = RecognizerOptions()
            edit(&o)
            cases.append((o, message))
        }
        add("beamWidth must be at most 1024, got 100000000") { $0.beamWidth = 100_000_000 }
        add("lmWeight must be a number between 0 and 10, got nan") { $0.lmWeight = .nan }
        add("lmWeight must be at least 0, got -100") { $0.lmWeight = -100 }
        add("wordBonus must be at least -20, got -inf") { $0.wordBonus = -.infinity }
        add("unknownWordLog10 must be at most 0, got inf") { $0.unknownWordLog10 = .infinity }
        add("partialMargin must be a number >= 0 (or inf), got nan") { $0.partialMargin = .nan }
        add("trailingSilence must be at most 3600, got inf") { $0.endpoint.trailingSilence = .infinity }
        add("maxUtterance must be at most 3600, got 3e+17") { $0.endpoint.maxUtterance = 3e17 }
        for (o, message) in cases {
            XCTAssertThrowsError(try o.validate(), message) { e in XCTAssertEqual(e as? SpeechError, .invalidOption(message)) }
        }
        var ok = RecognizerOptions()
        ok.partialMargin = .infinity
        ok.beamWidth = 1024
        XCTAssertNoThrow(try ok.validate())
    }

    /// An infinite endpoint used to load, then trap converting to Int when the first stream was made.
    func testRecognizerRefusesOptionsOutOfRange() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "no shipped model")
        var o = RecognizerOptions()
        o.endpoint.trailingSilence = .infinity
        XCTAssertThrowsError(try SpeechRecognizer(model: model, options: o)) { e in
            XCTAssertEqual("\(e)", "invalid recognizer option: trailingSilence must be at most 3600, got inf")
        }
        o = RecognizerOptions()
        o.decoding = .greedy
        o.lmWeight = .nan
        XCTAssertThrowsError(try SpeechRecognizer(model: model, options: o)) { e in
            XCTAssertEqual(e as? SpeechError, .invalidOption("lmWeight must be a number between 0 and 10, got nan"))
        }
    }
}
