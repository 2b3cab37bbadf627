// Bad audio through the built `ssmspeech` binary (issue: reliability, classes 4, 8, 9 and 13): `bench` on
// audio with no samples and on a 3-hour file, odd WAV headers read the same by `transcribe FILE` and
// `stream < FILE`, and a damaged MP3.

import Foundation
import SSMTestSupport
import XCTest

extension BadInputCLITests {
    // MARK: - bench

    /// A WAV with a header and no samples: `bench` and `bench --json` end with one error line naming the
    /// file, status 1, nothing on stdout (they printed `rtf inf`, and `--json` trapped encoding it).
    func testBenchOnAudioWithNoSamplesIsAnError() throws {
        let empty = try write("no-samples.wav", Self.riffHeader(dataBytes: 0))
        for extra in [[], ["--json"]] {
            let r = try run(["bench", "--model", Self.model, "--audio", empty] + extra)
            XCTAssertEqual(r.status, 1, "bench \(extra): \(r.err)")
            XCTAssertEqual(r.out, "", "bench \(extra)")
            assertOneErrorLine(r, naming: [empty, "no samples"])
        }
        // A good file still gives finite figures.
        let g = try run(["bench", "--model", Self.model, "--audio", Self.good, "--json"])
        XCTAssertEqual(g.status, 0, g.err)
        let o = try jsonObjects(g.out)
        XCTAssertEqual(o.count, 1)
        XCTAssertTrue((o.first?["rtf"] as? Double ?? .infinity).isFinite, g.out)
        XCTAssertEqual(o.first?["audio_seconds"] as? Double ?? -1, 1, accuracy: 1e-9)
    }

    /// `bench` of a valid 3-hour 8 kHz file (sparse, 165 MB): the audio is read as it is streamed, so
    /// the peak RSS over the first 15 s stays far below the 330 MB that holding its samples takes (it read
    /// the whole file into memory first: 725 MB on 3 h).
    func testBenchStreamsALongFileInBoundedMemory() throws {
        let bytes = 3 * 3_600 * 8_000 * 2
        let path = try write("bench-three-hours.wav", Self.riffHeader(rate: 8_000, dataBytes: UInt32(bytes)))
        XCTAssertEqual(truncate(path, off_t(44 + bytes)), 0)
        let env = ProcessInfo.processInfo.environment
        let sanitized = env["ASAN_OPTIONS"] != nil || env["TSAN_OPTIONS"] != nil
        let r = try run(["bench", "--model", Self.model, "--audio", path], sampleRSS: true, mayBeKilled: true, during: { pid in
            for _ in 0..<150 { // 15 s
                usleep(100_000)
                if kill(pid, 0) != 0 { return }
            }
            kill(pid, SIGKILL)
        })
        XCTAssertGreaterThan(r.peakRSSkB, 0)
        XCTAssertLessThan(r.peakRSSkB, sanitized ? Int.max : 150 * 1024, "peak RSS \(r.peakRSSkB) kB")
        print("bench, 3-hour file, first 15 s: peak RSS \(r.peakRSSkB / 1024) MB")
    }

    // MARK: - One reading of WAV headers for files and stdin

    /// A `fmt ` chunk written by hand: `bits` is wBitsPerSample, `blockAlign` defaults to the consistent
    /// value; `validBits` makes it WAVE_FORMAT_EXTENSIBLE (PCM sub-format).
    static func fmtChunk(bits: UInt16, blockAlign: UInt16? = nil, validBits: UInt16? = nil, rate: UInt32 = 16_000) -> [UInt8] {
        let align = blockAlign ?? (bits + 7) / 8
        var body = le16(validBits == nil ? 1 : 0xFFFE) + le16(1) + le32(rate) + le32(rate * UInt32(align)) + le16(align) + le16(bits)
        if let validBits {
            body += le16(22) + le16(validBits) + le32(4) + le16(1)
                + [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        }
        return Array("fmt ".utf8) + le32(UInt32(body.count)) + body
    }

    static func dataChunk(_ pcm: [UInt8], declared: UInt32? = nil) -> [UInt8] {
        Array("data".utf8) + le32(declared ?? UInt32(pcm.count)) + pcm + (pcm.count % 2 == 1 ? [0] : [])
    }

    static func riff(_ chunks: [[UInt8]]) -> [UInt8] {
        let body = Array("WAVE".utf8) + chunks.flatMap { $0 }
        return Array("RIFF".utf8) + le32(UInt32(body.count)) + body
    }

    enum Expected {
        /// The same text as `transcribe --endpoint-seconds 0` of this file.
        case text(String)
        /// An error containing this.
        case error(String)
    }

    /// The corpus of odd headers, each read by `transcribe FILE` and by `stream < FILE`: the finals of the
    /// stream must equal the transcript, or both must fail with the same error line (the path in one,
    /// `<stdin>` in the other). Before: data size 0 gave an empty transcript (stream: the text); two data
    /// chunks a libsndfile error (stream: the first chunk's text); 12 bits in 16-bit containers were
    /// transcribed (stream: rejected); 7 bits gave twice the duration and noise (stream: rejected).
    func testOddWAVHeadersReadTheSameFromFileAndStdin() throws {
        let pcm = goodPCM
        let half = Array(pcm[..<(pcm.count / 2)])
        let halfFile = try write("first-half.wav", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(half)]))
        let h = try run(["transcribe", "--model", Self.model, "--endpoint-seconds", "0", halfFile])
        XCTAssertEqual(h.status, 0, h.err)
        let full = goodText, firstHalf = h.out
        XCTAssertNotEqual(full, firstHalf)
        let list = Array("LIST".utf8) + Self.le32(8) + Array("INFOabcd".utf8)
        let corpus: [(name: String, bytes: [UInt8], expected: Expected)] = [
            ("plain", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(pcm)]), .text(full)),
            // Data size 0 (and 0xFFFFFFFF): "size unknown", read to the end, as streaming writers mean it.
            ("data-size-0", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(pcm, declared: 0)]), .text(full)),
            ("data-size-ffffffff", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(pcm, declared: 0xFFFF_FFFF)]), .text(full)),
            // A second data chunk, or any chunk after the data, is not audio.
            ("two-data-chunks", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(half), Self.dataChunk(Array(pcm[half.count...]))]),
             .text(firstHalf)),
            ("list-after-data", Self.riff([Self.fmtChunk(bits: 16), Self.dataChunk(pcm), list]), .text(full)),
            // 12 valid bits in 16-bit containers: read as 16-bit, as libsndfile does.
            ("extensible-16-valid-12", Self.riff([Self.fmtChunk(bits: 16, validBits: 12), Self.dataChunk(pcm)]), .text(full)),
            ("extensible-12-valid-12", Self.riff([Self.fmtChunk(bits: 12, validBits: 12), Self.dataChunk(pcm)]), .text(full)),
            ("pcm-12", Self.riff([Self.fmtChunk(bits: 12), Self.dataChunk(pcm)]), .text(full)),
            // Headers that contradict themselves: rejected by both, with the same reason.
            ("pcm-12-block-align-1", Self.riff([Self.fmtChunk(bits: 12, blockAlign: 1), Self.dataChunk(pcm)]),
             .error("WAV PCM with 12 bits per sample and a block align of 1")),
            ("pcm-7", Self.riff([Self.fmtChunk(bits: 7, blockAlign: 2), Self.dataChunk(pcm)]), .error("WAV PCM with 7 bits per sample")),
            ("pcm-7-block-align-0", Self.riff([Self.fmtChunk(bits: 7, blockAlign: 0), Self.dataChunk(pcm)]),
             .error("WAV PCM with 7 bits per sample")),
            ("extensible-16-valid-20", Self.riff([Self.fmtChunk(bits: 16, validBits: 20), Self.dataChunk(pcm)]),
             .error("WAV PCM with 20 valid bits in 16-bit samples")),
            ("rate-1hz", Self.riff([Self.fmtChunk(bits: 16, rate: 1), Self.dataChunk(pcm)]), .error("unsupported sample rate 1 Hz")),
        ]
        for (name, bytes, expected) in corpus {
            let path = try write("\(name).wav", bytes)
            let t = try run(["transcribe", "--model", Self.model, "--endpoint-seconds", "0", path])
            let s = try stream(feed: { self.writeAll(bytes[...], to: $0) })
            switch expected {
            case let .text(text):
                XCTAssertEqual(t.status, 0, "\(name): \(t.err)")
                XCTAssertEqual(t.err, "", name)
                XCTAssertEqual(t.out, text, name)
                XCTAssertEqual(s.status, 0, "\(name): \(s.err)")
                XCTAssertEqual(s.err, "", name)
                XCTAssertEqual(s.out.split(separator: "\n").joined(separator: " ") + "\n", t.out, "\(name): stream ≠ transcribe")
            case let .error(reason):
                XCTAssertEqual(t.status, 1, name)
                XCTAssertEqual(t.out, "", name)
                assertOneErrorLine(t, naming: [path, reason])
                XCTAssertEqual(s.status, 1, name)
                XCTAssertEqual(s.out, "", name)
                assertOneErrorLine(s, naming: ["<stdin>", reason])
                XCTAssertEqual(t.err.replacingOccurrences(of: path, with: "<stdin>"), s.err, "\(name): different errors")
            }
        }
    }

    // MARK: - A damaged MP3

    /// `Tests/Fixtures/odd-wav/speech-16k.mp3` (3.1 s, 24 kbit/s, made by sox from Resources/samples) with
    /// damage: libmpg123 (libsndfile's MP3 decoder) printed its own lines on stderr and the file was cut
    /// short silently (0.9 s of 3.1 s transcribed, status 0). Now: decoding that stops early is one error
    /// line naming the file and the time reached (status 1); damage the decoder skips is one warning line
    /// (status 0, the transcript on stdout); no raw decoder lines.
    func testDamagedMP3IsReportedNotCutSilently() throws {
        let clean = [UInt8](try Data(contentsOf: Fixtures.directory.appendingPathComponent("odd-wav/speech-16k.mp3")))
        var stops = clean
        for i in stride(from: 2_500, to: stops.count, by: 7) { stops[i] ^= 0xFF } // every 7th byte from 2.5 kB on
        var skips = clean
        for i in 2_500..<2_600 { skips[i] = 0 } // 100 zero bytes: one frame lost, the decoder resyncs
        let stopsPath = try write("stops.mp3", stops), skipsPath = try write("skips.mp3", skips)
        let cleanPath = try write("clean.mp3", clean)

        let c = try run(["transcribe", "--model", Self.model, "--format", "json", cleanPath])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertEqual(c.err, "")
        XCTAssertEqual(try jsonObjects(c.out).first?["duration"] as? Double ?? -1, 3.096, accuracy: 0.001)

        let r = try run(["transcribe", "--model", Self.model, "--format", "tsv", stopsPath, Self.good])
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertEqual(r.out, Self.goodLine)
        assertOneErrorLine(r, naming: [stopsPath, "stopped at 0.900 s of 3.096 s"])
        XCTAssertFalse(r.err.contains("[src/"), r.err)

        let w = try run(["transcribe", "--model", Self.model, "--format", "json", skipsPath])
        XCTAssertEqual(w.status, 0, w.err)
        XCTAssertEqual(w.errorLines.count, 1, w.err)
        XCTAssertTrue(w.err.hasPrefix("warning: \(skipsPath): the MP3 decoder skipped damaged data ("), w.err)
        XCTAssertTrue(w.err.contains("decoded 3.060 s of 3.096 s"), w.err)
        XCTAssertFalse(w.err.contains("Note:"), w.err)
        XCTAssertEqual(try jsonObjects(w.out).first?["duration"] as? Double ?? -1, 3.060, accuracy: 0.001)
    }
}
