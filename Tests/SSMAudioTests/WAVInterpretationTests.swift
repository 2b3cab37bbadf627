// One reading of WAV for files and streams (`SoundFile` = `PCMStreamParser` on the same bytes), the WAV
// file reader against libsndfile, and what a damaged MP3 makes `SoundFile` say (issue: reliability,
// classes 8 and 9; the same through the binary: BadInputAudioTests in SSMSpeechCLITests).

import CSndFile
import Foundation
import XCTest
@testable import SSMAudio

final class WAVInterpretationTests: XCTestCase {
    var dir: TempDirectory!

    override func setUpWithError() throws { dir = try TempDirectory() }

    /// All of `path` through `SoundFile.readMono` in blocks of `block` frames.
    func readFile(_ path: String, decoder: SoundFile.Decoder = .automatic, block: Int = 1_000) throws -> (samples: [Float], file: SoundFile) {
        let file = try SoundFile(path: path, decoder: decoder)
        var mono = [Float](), scratch = [Float]()
        while try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: block) > 0 {}
        return (mono, file)
    }

    /// The same bytes through the stdin parser, in pieces of 97 bytes.
    func readStream(_ bytes: [UInt8]) throws -> [Float] {
        try parse(bytes, sizes: randomChunkSizes(total: bytes.count, maxChunk: 97, seed: 5)).samples
    }

    static func fmt(tag: UInt16 = 1, channels: Int = 1, bits: Int, blockAlign: Int? = nil, validBits: Int? = nil, subformat: UInt16 = 1) -> [UInt8] {
        var b = [UInt8]()
        let align = blockAlign ?? channels * ((bits + 7) / 8)
        b.le16(validBits == nil ? tag : 0xFFFE); b.le16(UInt16(channels)); b.le32(22_050); b.le32(UInt32(22_050 * align))
        b.le16(UInt16(align)); b.le16(UInt16(bits))
        if let validBits {
            b.le16(22); b.le16(UInt16(validBits)); b.le32(4); b.le16(subformat)
            b.append(contentsOf: [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
        }
        return b
    }

    static func wav(fmt: [UInt8], data: [[UInt8]], declared: [UInt32?]? = nil, after: [UInt8] = []) -> [UInt8] {
        var body = [UInt8]()
        body.fourCC("WAVE")
        body.fourCC("fmt "); body.le32(UInt32(fmt.count)); body.append(contentsOf: fmt)
        for (k, d) in data.enumerated() {
            body.fourCC("data"); body.le32(declared?[k] ?? UInt32(d.count)); body.append(contentsOf: d)
            if d.count % 2 == 1 { body.append(0) }
        }
        body.append(contentsOf: after)
        var out = [UInt8]()
        out.fourCC("RIFF"); out.le32(UInt32(body.count)); out.append(contentsOf: body)
        return out
    }

    /// 16-bit stereo samples of the test signal.
    static var pcm16Stereo: [UInt8] {
        var b = [UInt8]()
        for i in 0..<2_205 {
            for c in 0..<2 {
                b.le16(UInt16(bitPattern: Int16((testSignal(channel: c, time: Double(i) / 22_050) * 32_767).rounded())))
            }
        }
        return b
    }

    /// The corpus of odd headers: each file decodes to exactly the samples the stdin parser makes of its
    /// bytes, or both refuse it with the same error (the path in one, `<stdin>` in the other).
    func testFileAndStreamReadOddWAVHeadersAlike() throws {
        let pcm = Self.pcm16Stereo
        let half = Array(pcm[..<(pcm.count / 2)])
        let list: [UInt8] = Array("LIST".utf8) + [8, 0, 0, 0] + Array("INFOabcd".utf8)
        let corpus: [(String, [UInt8], expectFrames: Int?)] = [
            ("plain", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm]), 2_205),
            ("size0", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm], declared: [0]), 2_205),
            ("sizeFFFFFFFF", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm], declared: [0xFFFF_FFFF]), 2_205),
            ("size-beyond-file", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm], declared: [10_000_000]), 2_205),
            ("size-odd", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [Array(pcm[..<4_003])]), 1_000),
            ("two-data", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [half, Array(pcm[half.count...])]), half.count / 4),
            ("list-after", Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm], after: list), 2_205),
            ("ext-16-valid-12", Self.wav(fmt: Self.fmt(channels: 2, bits: 16, validBits: 12), data: [pcm]), 2_205),
            ("ext-12-valid-12", Self.wav(fmt: Self.fmt(channels: 2, bits: 12, validBits: 12), data: [pcm]), 2_205),
            ("ext-24-valid-20", Self.wav(fmt: Self.fmt(bits: 24, validBits: 20), data: [Array(pcm[..<6_615])]), 2_205),
            ("pcm-12", Self.wav(fmt: Self.fmt(channels: 2, bits: 12), data: [pcm]), 2_205),
            ("pcm-20", Self.wav(fmt: Self.fmt(bits: 20), data: [Array(pcm[..<6_615])]), 2_205),
            ("pcm-12-align-2", Self.wav(fmt: Self.fmt(channels: 2, bits: 12, blockAlign: 2), data: [pcm]), nil),
            ("pcm-7", Self.wav(fmt: Self.fmt(bits: 7, blockAlign: 2), data: [pcm]), nil),
            ("pcm-4", Self.wav(fmt: Self.fmt(bits: 4, blockAlign: 1), data: [pcm]), nil),
            ("pcm-40", Self.wav(fmt: Self.fmt(bits: 40), data: [pcm]), nil),
            ("ext-valid-20-in-16", Self.wav(fmt: Self.fmt(bits: 16, validBits: 20), data: [pcm]), nil),
            ("float-16", Self.wav(fmt: Self.fmt(tag: 3, bits: 16), data: [pcm]), nil),
            ("ext-float-16", Self.wav(fmt: Self.fmt(bits: 16, validBits: 16, subformat: 3), data: [pcm]), nil),
        ]
        for (name, bytes, expectFrames) in corpus {
            let path = dir.path("\(name).wav")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            var fileResult: Result<[Float], Error>
            do { fileResult = .success(try readFile(path).samples) } catch { fileResult = .failure(error) }
            var streamResult: Result<[Float], Error>
            do { streamResult = .success(try readStream(bytes)) } catch { streamResult = .failure(error) }
            switch (fileResult, streamResult, expectFrames) {
            case let (.success(f), .success(s), n?):
                XCTAssertEqual(f.count, n, name)
                XCTAssertTrue(f == s, "\(name): file and stream samples differ")
            case let (.failure(f), .failure(s), nil):
                XCTAssertEqual("\(f)".replacingOccurrences(of: path, with: "<stdin>"), "\(s)", name)
                guard case AudioError.unsupportedFormat = f else { XCTFail("\(name): \(f)"); continue }
            default:
                XCTFail("\(name): file \(fileResult), stream \(streamResult), expected \(expectFrames.map { "\($0) frames" } ?? "an error")")
            }
        }
    }

    /// 12 valid bits in 16-bit containers read as libsndfile reads them (16-bit scaling), and 24-bit
    /// containers with 20 valid bits likewise: the same samples as the plain file.
    func testFewerValidBitsReadAsTheirContainer() throws {
        let pcm = Self.pcm16Stereo
        let plain = try readStream(Self.wav(fmt: Self.fmt(channels: 2, bits: 16), data: [pcm]))
        XCTAssertEqual(plain.count, 2_205)
        for f in [Self.fmt(channels: 2, bits: 16, validBits: 12), Self.fmt(channels: 2, bits: 12, validBits: 12), Self.fmt(channels: 2, bits: 12)] {
            XCTAssertTrue(try readStream(Self.wav(fmt: f, data: [pcm])) == plain)
        }
        let path = dir.path("ext12.wav")
        try Data(Self.wav(fmt: Self.fmt(channels: 2, bits: 16, validBits: 12), data: [pcm])).write(to: URL(fileURLWithPath: path))
        let viaLibsndfile = try readFile(path, decoder: .libsndfile)
        XCTAssertTrue(viaLibsndfile.samples == plain, "libsndfile reads it the same")
    }

    /// Files libsndfile wrote, every PCM and float subtype, 1–3 channels: the WAV reader and libsndfile
    /// give the same samples bit for bit, interleaved and mixed down, with the same header figures.
    func testWAVReaderMatchesLibsndfile() throws {
        let subtypes: [Int32] = [Int32(SF_FORMAT_PCM_U8), Int32(SF_FORMAT_PCM_16), Int32(SF_FORMAT_PCM_24),
                                 Int32(SF_FORMAT_PCM_32), Int32(SF_FORMAT_FLOAT), Int32(SF_FORMAT_DOUBLE)]
        for container in [Int32(SF_FORMAT_WAV), Int32(SF_FORMAT_WAVEX), Int32(SF_FORMAT_RF64)] {
            for subtype in subtypes {
                for channels in [1, 2, 3] {
                    let path = dir.path("agree-\(container)-\(subtype)-\(channels).wav")
                    try writeSoundFile(path: path, sampleRate: 22_050, channels: channels, format: container | subtype, frames: 2_205)
                    let ours = try SoundFile(path: path), theirs = try SoundFile(path: path, decoder: .libsndfile)
                    let label = "container 0x\(String(container, radix: 16)) subtype 0x\(String(subtype, radix: 16)) channels \(channels)"
                    XCTAssertEqual(ours.format, theirs.format, label)
                    XCTAssertEqual(ours.frames, theirs.frames, label)
                    XCTAssertEqual(ours.sampleRate, theirs.sampleRate, label)
                    XCTAssertEqual(ours.channels, theirs.channels, label)
                    var a = [Float](), b = [Float]()
                    XCTAssertEqual(try ours.read(into: &a, maxFrames: 4_096), 2_205, label)
                    XCTAssertEqual(try theirs.read(into: &b, maxFrames: 4_096), 2_205, label)
                    XCTAssertTrue(a[..<(2_205 * channels)] == b[..<(2_205 * channels)], label)
                    XCTAssertEqual(try ours.read(into: &a, maxFrames: 4_096), 0, label)
                    XCTAssertTrue(try readFile(path).samples == readFile(path, decoder: .libsndfile).samples, label)
                }
            }
        }
    }

    // MARK: - Damaged MP3

    /// 3 s of the test signal as a 16 kHz MP3, written by libsndfile (LAME).
    func makeMP3() throws -> [UInt8] {
        let path = dir.path("clean.mp3")
        try writeSoundFile(path: path, sampleRate: 16_000, channels: 1, format: Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III),
                           frames: 48_000)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    final class Warnings: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
    }

    /// Damage that stops libmpg123 with a message is an error naming the file and the time reached (it
    /// was an early, silent end of file); damage it gives up on without a word, and damage it skips, are
    /// one warning each at the end of the file; a clean file says nothing. The decoder's own lines are
    /// caught, not left on stderr.
    func testDamagedMP3() throws {
        let clean = try makeMP3()
        let warnings = Warnings()
        let saved = AudioWarnings.handler
        AudioWarnings.handler = { line in warnings.lock.withLock { warnings.lines.append(line) } }
        defer { AudioWarnings.handler = saved }
        func damaged(_ name: String, _ damage: (inout [UInt8]) -> Void) throws -> String {
            var bytes = clean
            damage(&bytes)
            let path = dir.path(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let quarter = clean.count / 4

        let cleanPath = try damaged("ok.mp3") { _ in }
        let (all, file) = try readFile(cleanPath, block: 4_096)
        XCTAssertEqual(Int64(all.count), file.frames)
        XCTAssertEqual(file.frames, 48_000)
        XCTAssertEqual(warnings.lines, [])

        // Every third byte from a quarter of the file on: libmpg123 resyncs, then gives up, and says so.
        let stops = try damaged("stops.mp3") { b in for i in stride(from: quarter, to: b.count, by: 3) { b[i] ^= 0xFF } }
        XCTAssertThrowsError(try readFile(stops, block: 4_096)) { error in
            guard case let AudioError.readFailed(path, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, stops)
            XCTAssertTrue(reason.hasPrefix("the MP3 decoder stopped at 0."), reason)
            XCTAssertTrue(reason.contains(" of 3.000 s: Giving up resync"), reason) // errors before notes
            XCTAssertFalse(reason.contains("\n"), reason)
        }
        XCTAssertEqual(warnings.lines, [])

        // Every seventh byte: libmpg123 stops without a word.
        let silent = try damaged("silent.mp3") { b in for i in stride(from: quarter, to: b.count, by: 7) { b[i] ^= 0xFF } }
        let (cut, _) = try readFile(silent, block: 4_096)
        XCTAssertLessThan(cut.count, 24_000)
        XCTAssertEqual(warnings.lines, ["\(silent): the MP3 decoder stopped at \(String(format: "%.3f", Double(cut.count) / 16_000)) s "
                                        + "of 3.000 s without an error; the rest is missing"])

        // 100 zero bytes: one frame lost, then the decoder finds the next one.
        warnings.lines = []
        let skips = try damaged("skips.mp3") { b in for i in quarter..<(quarter + 100) { b[i] = 0 } }
        let (some, skipped) = try readFile(skips, block: 4_096)
        XCTAssertGreaterThan(Double(some.count), 0.95 * Double(skipped.frames))
        XCTAssertEqual(warnings.lines.count, 1, "\(warnings.lines)")
        XCTAssertTrue(warnings.lines.first?.hasPrefix("\(skips): the MP3 decoder skipped damaged data (") ?? false, "\(warnings.lines)")
    }

    /// What is not a decoder's line passes through the capture to stderr; libmpg123's are recognised.
    func testDecoderMessageRecognition() {
        XCTAssertEqual(StderrCapture.decoderMessage("[src/libmpg123/layer3.c:III_get_side_info():202] error: big_values too large!"),
                       "big_values too large!")
        XCTAssertEqual(StderrCapture.decoderMessage("Note: Trying to resync..."), "Trying to resync...")
        XCTAssertNil(StderrCapture.decoderMessage("error: cannot open 'x.wav': No such file"))
        XCTAssertNil(StderrCapture.decoderMessage("warning: x.mp3: something"))
        let (value, lines) = StderrCapture.run { () -> Int in
            let text = Array("Note: Skipped 108 bytes in input.\n[src/libmpg123/parse.c:wetwork():1406] error: Giving up\n".utf8)
            text.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            return 7
        }
        XCTAssertEqual(value, 7)
        XCTAssertEqual(lines.map(\.text), ["Skipped 108 bytes in input.", "Giving up"])
        XCTAssertEqual(lines.map(\.isError), [false, true])
    }
}
