import Foundation
@testable import SSMSpeechCLI
import SSMSpeech
import XCTest

/// The command line's own pieces: output formats and the bench's word alignment.
final class OutputAndBenchTests: XCTestCase {
    func testFormats() {
        let t = Transcript(text: "hello \"world\"", words: [WordTiming(word: "hello", start: 0.1, end: 0.5),
                                                          WordTiming(word: "\"world\"", start: 0.6, end: 3_661.25)],
                           duration: 3_662)
        XCTAssertEqual(TranscriptFormatter.render(.text, file: "a.wav", transcript: t, rtf: 0.1), "hello \"world\"\n")
        XCTAssertEqual(TranscriptFormatter.render(.tsv, file: "a.wav", transcript: t, rtf: 0.1), "a.wav\thello \"world\"\n")
        let json = TranscriptFormatter.render(.json, file: "a\tb.wav", transcript: t, rtf: 0.1)
        let obj = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        XCTAssertEqual(obj["file"] as? String, "a\tb.wav")
        XCTAssertEqual(obj["text"] as? String, "hello \"world\"")
        XCTAssertEqual(obj["duration"] as? Double, 3_662)
        XCTAssertEqual((obj["words"] as? [[String: Any]])?.last?["end"] as? Double, 3_661.25)
        XCTAssertEqual(json.filter { $0 == "\n" }.count, 1, "JSON Lines: one line per file")
        XCTAssertEqual(TranscriptFormatter.srt(t), "1\n00:00:00,100 --> 00:00:00,500\nhello\n\n2\n00:00:00,600 --> 01:01:01,250\n\"world\"\n\n")
        XCTAssertTrue(TranscriptFormatter.vtt(t).hasPrefix("WEBVTT\n\n00:00:00.100 --> 00:00:00.500\nhello\n\n"))
    }

    /// The word alignment behind emission latency pairs matches and substitutions, skipping
    /// insertions and deletions.
    func testWordAlignmentForEmission() {
        let ref = ["he", "was", "not", "an", "ill", "man"]
        let hyp = ["he", "is", "not", "a", "an", "ill", "men"]
        let pairs = LatencyBench.alignWords(reference: ref, hypothesis: hyp)
        XCTAssertEqual(pairs.map { "\($0.0)-\($0.1)" }, ["0-0", "1-1", "2-2", "3-4", "4-5", "5-6"])
        XCTAssertTrue(LatencyBench.alignWords(reference: [], hypothesis: hyp).isEmpty)
    }
}
