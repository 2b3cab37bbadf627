// PCMStreamParser: raw and WAV byte streams, any split, headers, errors.

import CSndFile
import Foundation
import XCTest
@testable import SSMAudio

final class PCMStreamParserTests: XCTestCase {

    /// Parses `bytes` with every split pattern, checks each equals `expected` exactly, returns the parser
    /// of the whole-buffer parse.
    @discardableResult
    private func assertAllSplits(_ bytes: [UInt8], format: RawPCMFormat = RawPCMFormat(), expected: [Float],
                                 file: StaticString = #filePath, line: UInt = #line) throws -> PCMStreamParser {
        var whole: PCMStreamParser?
        for (name, sizes) in allSplits(total: bytes.count) {
            let (samples, parser) = try parse(bytes, sizes: sizes, format: format)
            XCTAssertEqual(samples.count, expected.count, "split \(name): count", file: file, line: line)
            XCTAssertTrue(samples == expected, "split \(name): samples differ", file: file, line: line)
            if whole == nil { whole = parser }
        }
        return whole!
    }

    private func randomInts(_ n: Int, in range: ClosedRange<Int32>, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Int32.random(in: range, using: &rng) }
    }

    // MARK: - Raw PCM

    func testRawS16MonoKnownValues() throws {
        let values: [Int16] = [0, 1, -1, 32_767, -32_768, 16_384, -8_192]
        var bytes = [UInt8]()
        for v in values { bytes.le16(UInt16(bitPattern: v)) }
        let expected: [Float] = [0, 1.0 / 32_768, -1.0 / 32_768, 32_767.0 / 32_768, -1, 0.5, -0.25]
        let p = try assertAllSplits(bytes, expected: expected)
        XCTAssertEqual(p.container, .raw)
        XCTAssertEqual(p.sampleRate, 16_000)
        XCTAssertEqual(p.channels, 1)
        XCTAssertEqual(p.framesDecoded, 7)
    }

    func testRawS16LongStreamAllSplits() throws {
        let ints = randomInts(5_000, in: -32_768...32_767, seed: 11)
        var bytes = [UInt8]()
        for v in ints { bytes.le16(UInt16(bitPattern: Int16(v))) }
        try assertAllSplits(bytes, expected: ints.map { (v: Int32) -> Float in Float(v) / 32_768 })
    }

    func testRawF32StereoAllSplits() throws {
        var rng = SplitMix64(seed: 5)
        let frames = 3_000
        let floats = (0..<(2 * frames)).map { _ in Float.random(in: -1...1, using: &rng) }
        var bytes = [UInt8]()
        for f in floats { bytes.le32(f.bitPattern) }
        let expected = (0..<frames).map { (i: Int) -> Float in (floats[2 * i] + floats[2 * i + 1]) / 2 }
        let format = RawPCMFormat(sampleRate: 48_000, encoding: .f32le, channels: 2)
        let p = try assertAllSplits(bytes, format: format, expected: expected)
        XCTAssertEqual(p.sampleRate, 48_000)
        XCTAssertEqual(p.channels, 2)
        // Known values too.
        var small = [UInt8]()
        for f: Float in [0.5, -0.25, 1, 0] { small.le32(f.bitPattern) }
        try assertAllSplits(small, format: format, expected: [0.125, 0.5])
    }

    func testTrailingPartialFrameIsDroppedSilently() throws {
        var bytes = [UInt8]()
        for v: Int16 in [100, 200, 300, 400, 500, 600, 700, 800] { bytes.le16(UInt16(bitPattern: v)) }
        bytes += [1, 2, 3]  // 3 bytes of a 4-byte stereo frame
        let format = RawPCMFormat(encoding: .s16le, channels: 2)
        let p = try assertAllSplits(bytes, format: format, expected: [150, 350, 550, 750].map { Float($0) / 32_768 })
        XCTAssertEqual(p.droppedTrailingBytes, 3)
    }

    func testStreamsShorterThanDetectionWindowAreRaw() throws {
        XCTAssertEqual(try parse([0x00, 0x40], sizes: [2]).samples, [0.5])
        XCTAssertEqual(try parse([0x00, 0x40], sizes: [1, 1]).samples, [0.5])
        // "RI" could start a header, but a stream that ends there is raw PCM.
        XCTAssertEqual(try parse(Array("RI".utf8), sizes: [1, 1]).samples, [Float(Int16(0x4952)) / 32_768])
        let (samples, parser) = try parse([], sizes: [])
        XCTAssertEqual(samples, [])
        XCTAssertEqual(parser.container, .raw)
    }

    func testDetectionCanBeDisabled() throws {
        let wav = makeWAV(tag: 1, channels: 1, sampleRate: 8_000, bits: 16, data: [0, 0x40])
        var parser = try PCMStreamParser(format: RawPCMFormat(), detectWAV: false)
        let out = try parser.feed(wav) + parser.finish()
        XCTAssertEqual(out.count, wav.count / 2)
        XCTAssertEqual(parser.container, .raw)
    }

    func testInvalidRawFormatIsRejected() {
        XCTAssertThrowsError(try PCMStreamParser(format: RawPCMFormat(sampleRate: 100, encoding: .s16le, channels: 1))) {
            XCTAssertEqual($0 as? AudioError, .invalidSampleRate(100, source: "<stdin>"))
        }
        XCTAssertThrowsError(try PCMStreamParser(format: RawPCMFormat(sampleRate: 16_000, encoding: .s16le, channels: 0))) {
            XCTAssertEqual($0 as? AudioError, .invalidChannelCount(0, source: "<stdin>"))
        }
    }

    func testFeedAfterFinishThrows() throws {
        var parser = try PCMStreamParser()
        _ = try parser.feed([0, 0])
        try parser.finish()
        XCTAssertThrowsError(try parser.feed([0, 0]))
        XCTAssertEqual(try parser.finish(), [])
    }

    // MARK: - WAV

    func testWAVWithListFactAndOddChunksBeforeData() throws {
        let ints = randomInts(2_000, in: -32_768...32_767, seed: 3)
        var data = [UInt8]()
        for v in ints { data.le16(UInt16(bitPattern: Int16(v))) }
        let list = Array("INFOISFT\u{07}\0\0\0Lavf58\0".utf8)   // odd length 17 → pad byte
        let wav = makeWAV(tag: 1, channels: 1, sampleRate: 22_050, bits: 16, data: data,
                          chunksBeforeFmt: [("JUNK", [UInt8](repeating: 0, count: 28))],
                          chunksBeforeData: [("LIST", list), ("fact", [0xD0, 0x07, 0, 0]), ("odd ", [9])])
        XCTAssertEqual(list.count % 2, 1)
        // Raw format says 48 kHz f32 stereo; the header must win.
        let p = try assertAllSplits(wav, format: RawPCMFormat(sampleRate: 48_000, encoding: .f32le, channels: 2),
                                    expected: ints.map { (v: Int32) -> Float in Float(v) / 32_768 })
        XCTAssertEqual(p.container, .wav)
        XCTAssertEqual(p.format, RawPCMFormat(sampleRate: 22_050, encoding: .s16le, channels: 1))
        XCTAssertEqual(p.declaredDataBytes, UInt64(data.count))
    }

    func testWAV24BitKnownValuesAndStereo() throws {
        let known: [Int32] = [0x7F_FFFF, -0x80_0000, 1, 0x40_0000, -0x40_0000, 0]
        var data = [UInt8]()
        for v in known { data.le24(v) }
        let mono = makeWAV(tag: 1, channels: 1, sampleRate: 44_100, bits: 24, data: data)
        try assertAllSplits(mono, expected: [8_388_607.0 / 8_388_608, -1, 1.0 / 8_388_608, 0.5, -0.5, 0])

        let ints = randomInts(4_000, in: -0x80_0000...0x7F_FFFF, seed: 24)
        data = []
        for v in ints { data.le24(v) }
        let stereo = makeWAV(tag: 1, channels: 2, sampleRate: 44_100, bits: 24, data: data)
        let scale: Float = 1.0 / 8_388_608
        let expected = (0..<2_000).map { (i: Int) -> Float in
            let a = Float(ints[2 * i]) * scale
            let b = Float(ints[2 * i + 1]) * scale
            return (a + b) / 2
        }
        let p = try assertAllSplits(stereo, expected: expected)
        XCTAssertEqual(p.format, RawPCMFormat(sampleRate: 44_100, encoding: .s24le, channels: 2))
    }

    func testWAVStereo16KnownValues() throws {
        var data = [UInt8]()
        for v: Int16 in [16_384, 0, 32_767, -32_768, -100, 100, 8_192, 8_192] { data.le16(UInt16(bitPattern: v)) }
        let wav = makeWAV(tag: 1, channels: 2, sampleRate: 8_000, bits: 16, data: data)
        try assertAllSplits(wav, expected: [0.25, -1.0 / 65_536, 0, 0.25])
    }

    func testWAVOtherEncodings() throws {
        // 8-bit unsigned.
        let u8 = makeWAV(tag: 1, channels: 1, sampleRate: 11_025, bits: 8, data: [0, 128, 255, 192, 64])
        try assertAllSplits(u8, expected: [-1, 0, 127.0 / 128, 0.5, -0.5])
        // 32-bit integer.
        var d32 = [UInt8]()
        for v: Int32 in [Int32.min, 1 << 30, 0, Int32.max] { d32.le32(UInt32(bitPattern: v)) }
        try assertAllSplits(makeWAV(tag: 1, channels: 1, sampleRate: 16_000, bits: 32, data: d32),
                            expected: [-1, 0.5, 0, 1])  // Float(Int32.max) rounds to 2^31
        // 64-bit float, stereo.
        var d64 = [UInt8]()
        for v: Double in [0.25, 0.75, -1, 0.5] {
            let u = v.bitPattern
            d64.le32(UInt32(u & 0xFFFF_FFFF)); d64.le32(UInt32(u >> 32))
        }
        try assertAllSplits(makeWAV(tag: 3, channels: 2, sampleRate: 16_000, bits: 64, data: d64), expected: [0.5, -0.25])
        // WAVE_FORMAT_EXTENSIBLE with float and PCM sub-formats.
        var f32 = [UInt8]()
        for v: Float in [0.1, -0.3, 0.7] { f32.le32(v.bitPattern) }
        try assertAllSplits(makeWAV(tag: 3, channels: 1, sampleRate: 16_000, bits: 32, data: f32, extensible: true),
                            expected: [0.1, -0.3, 0.7])
        var s16 = [UInt8]()
        for v: Int16 in [16_384, -16_384, 0, 8_192] { s16.le16(UInt16(bitPattern: v)) }
        let ext = makeWAV(tag: 1, channels: 2, sampleRate: 96_000, bits: 16, data: s16, extensible: true)
        let p = try assertAllSplits(ext, expected: [0, 0.125])
        XCTAssertEqual(p.format, RawPCMFormat(sampleRate: 96_000, encoding: .s16le, channels: 2))
    }

    /// Streaming writers (ffmpeg, sox, arecord to a pipe) cannot seek back, so they write 0 or 0xFFFFFFFF.
    func testUnknownDataSizeMeansUntilEndOfStream() throws {
        var data = [UInt8]()
        for v: Int16 in [1_000, 2_000, 3_000, 4_000] { data.le16(UInt16(bitPattern: v)) }
        for field: UInt32 in [0, 0xFFFF_FFFF] {
            let wav = makeWAV(tag: 1, channels: 1, sampleRate: 16_000, bits: 16, data: data, dataSizeField: field, riffSizeField: field)
            let p = try assertAllSplits(wav, expected: [1_000, 2_000, 3_000, 4_000].map { Float($0) / 32_768 })
            XCTAssertNil(p.declaredDataBytes)
        }
    }

    func testBytesAfterDeclaredDataAreIgnored() throws {
        var data = [UInt8]()
        for v: Int16 in [1_000, 2_000, 3_000] { data.le16(UInt16(bitPattern: v)) }
        var trailing = [UInt8]()
        trailing.fourCC("LIST"); trailing.le32(4); trailing.fourCC("INFO")
        trailing += [0x11, 0x22, 0x33]
        let wav = makeWAV(tag: 1, channels: 1, sampleRate: 16_000, bits: 16, data: data, trailing: trailing)
        let p = try assertAllSplits(wav, expected: [1_000, 2_000, 3_000].map { Float($0) / 32_768 })
        XCTAssertEqual(p.droppedTrailingBytes, 0)
    }

    func testRF64WithDS64Chunk() throws {
        var data = [UInt8]()
        for v: Int16 in [1_000, -1_000, 500] { data.le16(UInt16(bitPattern: v)) }
        var ds64 = [UInt8]()
        ds64.le32(0xFFFF); ds64.le32(0)                 // RIFF size
        ds64.le32(UInt32(data.count)); ds64.le32(0)     // data size
        ds64.le32(3); ds64.le32(0)                      // sample count
        ds64.le32(0)                                    // table length
        var wav = makeWAV(tag: 1, channels: 1, sampleRate: 16_000, bits: 16, data: data,
                          chunksBeforeFmt: [("ds64", ds64)], dataSizeField: 0xFFFF_FFFF, riffSizeField: 0xFFFF_FFFF,
                          trailing: [9, 9, 9, 9])
        wav.replaceSubrange(0..<4, with: Array("RF64".utf8))
        let p = try assertAllSplits(wav, expected: [1_000, -1_000, 500].map { Float($0) / 32_768 })
        XCTAssertEqual(p.declaredDataBytes, 6)
    }

    // MARK: - WAV errors

    func testTruncatedHeaderThrowsAtFinishForEveryCutPoint() throws {
        let wav = makeWAV(tag: 1, channels: 1, sampleRate: 16_000, bits: 16, data: [0, 0],
                          chunksBeforeData: [("LIST", [UInt8](repeating: 7, count: 10))])
        let headerLength = wav.count - 2
        for cut in 4..<headerLength {
            var parser = try PCMStreamParser()
            XCTAssertEqual(try parser.feed(Array(wav[0..<cut])), [], "cut \(cut)")
            XCTAssertThrowsError(try parser.finish(), "cut \(cut)") { error in
                guard case let AudioError.malformedWAVHeader(reason) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(reason.contains("ended"), reason)
                XCTAssertTrue("\(error)".hasPrefix("malformed WAV header: <stdin>"), "\(error)")
            }
        }
        // The complete header with no samples is fine.
        var parser = try PCMStreamParser()
        _ = try parser.feed(Array(wav[0..<headerLength]))
        XCTAssertEqual(try parser.finish(), [])
    }

    func testRIFFThatIsNotWAVEThrows() throws {
        var bytes = [UInt8]()
        bytes.fourCC("RIFF"); bytes.le32(100); bytes.fourCC("AVI ")
        var parser = try PCMStreamParser()
        XCTAssertThrowsError(try parser.feed(bytes)) { error in
            guard case let AudioError.malformedWAVHeader(reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("AVI"), reason)
        }
    }

    func testDataBeforeFmtThrows() throws {
        var bytes = [UInt8]()
        bytes.fourCC("RIFF"); bytes.le32(100); bytes.fourCC("WAVE"); bytes.fourCC("data"); bytes.le32(4)
        var parser = try PCMStreamParser()
        XCTAssertThrowsError(try parser.feed(bytes)) {
            guard case AudioError.malformedWAVHeader = $0 else { return XCTFail("\($0)") }
        }
    }

    func testUnsupportedWAVFormatsThrow() throws {
        // MPEG layer 3 (0x55), 12-bit PCM, A-law (6).
        for (tag, bits) in [(UInt16(0x55), 16), (1, 12), (6, 8), (3, 16)] {
            var parser = try PCMStreamParser()
            XCTAssertThrowsError(try parser.feed(makeWAV(tag: tag, channels: 1, sampleRate: 16_000, bits: bits, data: [0, 0])),
                                 "tag \(tag) bits \(bits)") { error in
                guard case AudioError.unsupportedFormat(path: "<stdin>", _) = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testWAVHeaderLimitsAreEnforced() throws {
        var parser = try PCMStreamParser()
        XCTAssertThrowsError(try parser.feed(makeWAV(tag: 1, channels: 1, sampleRate: 4_000, bits: 16, data: [0, 0]))) {
            XCTAssertEqual($0 as? AudioError, .invalidSampleRate(4_000, source: "<stdin>"))
        }
        parser = try PCMStreamParser()
        XCTAssertThrowsError(try parser.feed(makeWAV(tag: 1, channels: 0, sampleRate: 16_000, bits: 16, data: []))) {
            XCTAssertEqual($0 as? AudioError, .invalidChannelCount(0, source: "<stdin>"))
        }
    }

    // MARK: - Agreement with libsndfile

    /// The parser's scaling and mixdown equal libsndfile's read + ``mixdown`` bit for bit, for files that
    /// libsndfile itself wrote (including its PEAK/fact chunks for float).
    func testParserMatchesLibsndfileOnLibsndfileWrittenFiles() throws {
        let dir = try TempDirectory()
        let subtypes: [Int32] = [Int32(SF_FORMAT_PCM_U8), Int32(SF_FORMAT_PCM_16), Int32(SF_FORMAT_PCM_24),
                                 Int32(SF_FORMAT_PCM_32), Int32(SF_FORMAT_FLOAT), Int32(SF_FORMAT_DOUBLE)]
        for subtype in subtypes {
            for channels in [1, 2, 3] {
                let path = dir.path("agree-\(subtype)-\(channels).wav")
                try writeSoundFile(path: path, sampleRate: 22_050, channels: channels,
                                   format: Int32(SF_FORMAT_WAV) | subtype, frames: 2_205)
                let file = try SoundFile(path: path)
                var interleaved = [Float]()
                let n = try file.read(into: &interleaved, maxFrames: 4_096)
                var reference = [Float]()
                interleaved.withUnsafeBufferPointer { mixdown(interleaved: $0.baseAddress!, frames: n, channels: channels, into: &reference) }
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                let sizes = randomChunkSizes(total: bytes.count, maxChunk: 97, seed: UInt64(subtype) * 10 + UInt64(channels))
                let (samples, parser) = try parse(bytes, sizes: sizes)
                XCTAssertEqual(parser.sampleRate, 22_050)
                XCTAssertEqual(parser.channels, channels)
                XCTAssertEqual(samples.count, 2_205, "subtype \(subtype) channels \(channels)")
                XCTAssertTrue(samples == reference, "subtype 0x\(String(subtype, radix: 16)) channels \(channels)")
            }
        }
    }
}
