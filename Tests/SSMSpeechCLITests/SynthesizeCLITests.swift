import Foundation
import SSMSpeech
import SSMSynthesis
import SSMTensor
import SSMTestSupport
import XCTest

/// `ssmspeech synthesize` end to end, with the tiny random voice of the fixtures (fast; the sound is noise
/// but every stage runs): files, streamed WAV and raw, stdin lines, and text that is hard to speak.
extension CommandLineTests {
    var tinyVoice: String { Fixtures.path("tts_tiny") }

    func runWithInput(_ args: [String], stdin: Data) throws -> (out: Data, err: String, status: Int32) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let inPipe = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inPipe; p.standardOutput = out; p.standardError = err
        try p.run()
        let o = Shared(Data()), e = Shared(Data())
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { o.value = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { e.value = err.fileHandleForReading.readDataToEndOfFile() }
        inPipe.fileHandleForWriting.write(stdin)
        try inPipe.fileHandleForWriting.close()
        readers.wait()
        p.waitUntilExit()
        return (o.value, String(decoding: e.value, as: UTF8.self), p.terminationStatus)
    }

    /// s16le samples after a 44-byte header (or none) → floats.
    func pcm16(_ d: Data, skip: Int) -> [Float] {
        d.dropFirst(skip).withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) / 32768 }
        }
    }

    func testSynthesizeFileEqualsLibrary() throws {
        let text = "Hello, world! It costs $3.50 today."
        let wav = tmp.appendingPathComponent("out.wav").path
        let r = try run(["synthesize", "--voice", tinyVoice, "-o", wav, text])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "")
        let (decoded, rate) = try AudioFile.read(path: wav)
        XCTAssertEqual(rate, 16_000)
        let expected = try SpeechSynthesizer(voice: tinyVoice).synthesize(text)
        XCTAssertEqual(decoded.count, expected.count)
        XCTAssertGreaterThan(expected.count, 1600)
        let clipped = expected.map { max(-1, min(1, $0)) }
        XCTAssertLessThan(maxAbsDifference(decoded, clipped), 2.0 / 32768)
    }

    func testSynthesizeStreamsWAVAndRawToStdout() throws {
        let text = "The birch canoe slid on the smooth planks."
        let wav = try runWithInput(["synthesize", "--voice", tinyVoice, text], stdin: Data())
        XCTAssertEqual(wav.status, 0, wav.err)
        XCTAssertEqual(wav.out.prefix(4), Data("RIFF".utf8))
        XCTAssertEqual(Array(wav.out[4..<8]), [0xFF, 0xFF, 0xFF, 0xFF], "stream header: size unknown")
        let raw = try runWithInput(["synthesize", "--voice", tinyVoice, "--format", "raw", text], stdin: Data())
        XCTAssertEqual(raw.status, 0, raw.err)
        XCTAssertEqual(raw.out, wav.out.dropFirst(44), "raw = the WAV stream without its header")
        XCTAssertEqual(raw.out.count % 2, 0)
        XCTAssertGreaterThan(raw.out.count, 3200)
    }

    func testSynthesizeReadsStdinLines() throws {
        let lines = ["First line here.", "", "And a second, longer line of text."]
        let r = try runWithInput(["synthesize", "--voice", tinyVoice, "--format", "raw"],
                                 stdin: Data(lines.joined(separator: "\n").utf8))
        XCTAssertEqual(r.status, 0, r.err)
        let tts = try Synthesizer(directory: tinyVoice)
        let expected = try lines.filter { !$0.isEmpty }.map { try tts.synthesizeAll($0).count }.reduce(0, +)
        XCTAssertEqual(r.out.count / 2, expected, "one utterance after another, nothing lost")
    }

    func testSynthesizeHardText() throws {
        // speakable in some way: control characters, other scripts, nonsense, mixed emoji → audio, exit 0
        for text in ["\u{7}Hello\u{1}\tthere\u{1B}[0m.", "Привет, мир. 你好", "xkcd qwrtp zzzz bcdfg!", "I ❤️ 🍕 pizza"] {
            let r = try runWithInput(["synthesize", "--voice", tinyVoice, "--format", "raw", text], stdin: Data())
            XCTAssertEqual(r.status, 0, "\(text): \(r.err)")
            XCTAssertGreaterThan(r.out.count, 0, text)
            XCTAssertFalse(r.err.contains("error"), r.err)
        }
        // nothing speakable → one error line, non-zero exit, no audio
        for text in ["🙂🙂🙂", "   ", "...!?"] {
            let r = try runWithInput(["synthesize", "--voice", tinyVoice, "--format", "raw", text], stdin: Data())
            XCTAssertNotEqual(r.status, 0, text)
            XCTAssertEqual(r.err.split(separator: "\n").filter { $0.lowercased().hasPrefix("error") }.count, 1, "\(text): \(r.err)")
        }
    }

    func testSynthesizeLongText() throws {
        // ~100 KB: split into utterances of at most 40 words, spoken one after another, memory bounded
        var text = ""
        var rng = SeededRandom(seed: 5)
        let words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "then", "sleeps"]
        while text.utf8.count < 100_000 {
            text += words[Int(rng.next() % UInt64(words.count))]
            text += rng.next() % 17 == 0 ? ". " : (rng.next() % 9 == 0 ? ", " : " ")
        }
        let tts = try Synthesizer(directory: tinyVoice)
        let utterances = try tts.utterances(text)
        XCTAssertGreaterThan(utterances.count, 500)
        XCTAssertLessThanOrEqual(utterances.map(\.count).max() ?? 0, 40 * 12, "no utterance far beyond 40 words")
        let r = try runWithInput(["synthesize", "--voice", tinyVoice, "--format", "raw", "--rate", "2"], stdin: Data(text.utf8))
        XCTAssertEqual(r.status, 0, r.err)
        // every utterance spoken in full: its frames (durations at rate 2) × hop samples
        let frames = utterances.map { tts.acoustic.prepare(tokens: $0, lengthScale: 0.5).frames }.reduce(0, +)
        XCTAssertEqual(r.out.count / 2, frames * tts.config.audio.hop)
    }

    func testSynthesizeMissingVoice() throws {
        let r = try run(["synthesize", "--voice", tmp.appendingPathComponent("nope").path, "-o", tmp.appendingPathComponent("x.wav").path, "Hi."])
        XCTAssertNotEqual(r.status, 0)
        let errors = r.err.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, r.err)
        XCTAssertTrue(r.err.contains("nope"), r.err)
    }
}
