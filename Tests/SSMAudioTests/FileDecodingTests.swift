// File decoding: libsndfile-written files in every supported encoding → mono 16 kHz.

import CSndFile
import Foundation
import XCTest
@testable import SSMAudio

final class FileDecodingTests: XCTestCase {
    static let rates = [8_000, 16_000, 22_050, 44_100, 48_000]

    /// (name, libsndfile format, max abs error allowed against the analytic 16 kHz signal).
    /// Measured: u8 ≈ 0.008, 16-bit ≈ 3e-5, 24/32-bit and float ≈ 5e-7 (libsoxr HQ adds almost nothing).
    static let encodings: [(String, Int32, Double)] = [
        ("u8", Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_U8), 0.015),
        ("pcm16", Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), 1e-4),
        ("pcm24", Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24), 5e-6),
        ("pcm32", Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32), 5e-6),
        ("float", Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), 5e-6),
    ]

    var dir: TempDirectory!
    override func setUpWithError() throws { dir = try TempDirectory() }
    override func tearDown() { dir = nil }

    /// Decodes `path` and checks the length (exactly 16 000 for one second) and the content against the
    /// analytic mixdown over 0.1…0.9 s, away from the filter edges.
    private func checkOneSecond(path: String, channels: Int, tolerance: Double, label: String) throws {
        let decoded = try FileDecoder().decode(path: path)
        XCTAssertEqual(decoded.count, 16_000, "\(label): length")
        guard decoded.count == 16_000 else { return }
        let err = maxError(decoded, range: 1_600..<14_400) { testMixdown(channels: channels, time: $0) }
        XCTAssertLessThan(err, tolerance, "\(label): max abs error vs analytic signal")
        if channels > 1 {
            // The mixdown really averages: channel 0 alone is far from the result.
            let errLeft = maxError(decoded, range: 1_600..<14_400) { testSignal(channel: 0, time: $0) }
            XCTAssertGreaterThan(errLeft, 0.1, "\(label): output looks like the left channel only")
        }
    }

    func testAllRatesChannelsAndEncodings() throws {
        for rate in Self.rates {
            for channels in [1, 2] {
                for (name, format, tolerance) in Self.encodings {
                    let label = "\(name) \(rate) Hz \(channels) ch"
                    let path = dir.path("\(name)-\(rate)-\(channels).wav")
                    try writeSoundFile(path: path, sampleRate: rate, channels: channels, format: format, frames: rate)
                    try checkOneSecond(path: path, channels: channels, tolerance: tolerance, label: label)
                }
            }
        }
    }

    func testFLACAIFFAndOggVorbis() throws {
        let cases: [(String, Int32, Int, Int, Double)] = [
            ("flac", Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), 48_000, 2, 1e-4),
            ("flac", Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_24), 22_050, 1, 5e-6),
            ("aiff", Int32(SF_FORMAT_AIFF | SF_FORMAT_PCM_16), 44_100, 2, 1e-4),
            ("ogg", Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), 44_100, 2, 0.04),   // lossy; measured ≈ 0.015
            ("ogg", Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), 16_000, 1, 0.04),   // lossy; measured ≈ 0.015
        ]
        for (ext, format, rate, channels, tolerance) in cases {
            let path = dir.path("signal-\(rate)-\(channels).\(ext)")
            try writeSoundFile(path: path, sampleRate: rate, channels: channels, format: format, frames: rate)
            let info = try FileDecoder().info(path: path)
            XCTAssertEqual(info.sampleRate, rate)
            XCTAssertEqual(info.channels, channels)
            XCTAssertEqual(info.frames, Int64(rate), "\(ext): frames reported by libsndfile")
            XCTAssertEqual(info.format.rawValue, format)
            try checkOneSecond(path: path, channels: channels, tolerance: tolerance, label: "\(ext) \(rate) Hz \(channels) ch")
        }
    }

    /// After `flush`, libsoxr emits round-half-up(n · 16000 / rate) samples for n input frames.
    func testDecodedLengthIsRoundedDuration() throws {
        let cases = [(44_100, 12_345), (44_100, 44_101), (22_050, 1_001), (48_000, 2), (48_000, 1),
                     (8_000, 1_234), (32_000, 1_001), (32_000, 3), (11_025, 7), (16_000, 999), (96_000, 100_000)]
        for (rate, frames) in cases {
            let path = dir.path("len-\(rate)-\(frames).wav")
            try writeSoundFile(path: path, sampleRate: rate, channels: 1, format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), frames: frames)
            let expected = (frames * 16_000 * 2 + rate) / (2 * rate)   // ⌊n·16000/rate + ½⌋
            XCTAssertEqual(try FileDecoder().decode(path: path).count, expected, "\(frames) frames at \(rate) Hz")
        }
    }

    func testEmptyFileDecodesToNothing() throws {
        let path = dir.path("empty.wav")
        try writeSoundFile(path: path, sampleRate: 44_100, channels: 2, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), frames: 0)
        XCTAssertEqual(try FileDecoder().decode(path: path), [])
    }

    /// At 16 kHz there is no resampling, so the mixdown can be checked bit for bit: (a + b + c) / 3 in Float.
    func testMixdownIsExactAverageOfChannels() throws {
        let frames = 500
        var rng = SplitMix64(seed: 7)
        let samples = (0..<(frames * 3)).map { _ in Double(Float.random(in: -1..<1, using: &rng)) }
        let path = dir.path("three.wav")
        try writeSoundFile(path: path, sampleRate: 16_000, channels: 3, format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT),
                           frames: frames, samples: samples)
        let decoded = try FileDecoder().decode(path: path)
        let expected = (0..<frames).map { i -> Float in
            (Float(samples[3 * i]) + Float(samples[3 * i + 1]) + Float(samples[3 * i + 2])) / 3
        }
        XCTAssertEqual(decoded, expected)
    }

    func testStreamingDecodeEqualsOneShotForAnyBlockSize() throws {
        let path = dir.path("stream.wav")
        try writeSoundFile(path: path, sampleRate: 44_100, channels: 2, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), frames: 44_100)
        let decoder = FileDecoder()
        let oneShot = try decoder.decode(path: path)
        XCTAssertEqual(oneShot.count, 16_000)
        for blockFrames in [1, 7, 160, 4_096, 100_000] {
            var streamed = [Float]()
            var largest = 0
            try decoder.decode(path: path, blockFrames: blockFrames) { block in
                XCTAssertFalse(block.isEmpty)
                largest = max(largest, block.count)
                streamed += block
            }
            XCTAssertEqual(streamed, oneShot, "blockFrames \(blockFrames)")
            if blockFrames <= 4_096 {
                // Bounded output per step: one block's worth plus what libsoxr releases at flush.
                XCTAssertLessThanOrEqual(largest, blockFrames * 16_000 / 44_100 + 1_024, "blockFrames \(blockFrames)")
            }
        }
    }

    func testStreamingDecodePropagatesBodyErrors() throws {
        let path = dir.path("stop.wav")
        try writeSoundFile(path: path, sampleRate: 16_000, channels: 1, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), frames: 16_000)
        struct Stop: Error {}
        var calls = 0
        XCTAssertThrowsError(try FileDecoder().decode(path: path, blockFrames: 1_000) { _ in
            calls += 1
            if calls == 3 { throw Stop() }
        }) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(calls, 3)
    }

    // MARK: - Errors

    func testMissingFileIsCannotOpenNamingThePath() throws {
        let path = dir.path("does-not-exist.wav")
        XCTAssertThrowsError(try FileDecoder().decode(path: path)) { error in
            guard case let AudioError.cannotOpen(p, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertTrue(reason.contains("No such file"), reason)
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("cannot open '\(path)'"), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }

    func testNonAudioFileIsUnsupportedFormat() throws {
        let path = dir.path("notes.txt")
        try Data("this is not audio, just some text that is long enough to look at\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SoundFile(path: path)) { error in
            guard case let AudioError.unsupportedFormat(p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertTrue("\(error)".contains(path))
        }
    }

    func testDirectoryCannotBeOpened() throws {
        XCTAssertThrowsError(try SoundFile(path: dir.url.path)) { error in
            XCTAssertEqual(error as? AudioError, .cannotOpen(path: dir.url.path, reason: "is a directory"))
        }
    }

    /// NaN and ±Inf samples in a float file decode as 0 (file path and stdin parser alike), so they
    /// cannot poison the resampler or the encoder state for the rest of the stream.
    func testNonFiniteSamplesBecomeZero() throws {
        var clean = (0..<4_000).map { Float(sin(Double($0) * 0.05)) * 0.5 }
        var dirty = clean
        for i in stride(from: 1_000, to: 1_300, by: 1) { dirty[i] = [Float.nan, .infinity, -.infinity][i % 3]; clean[i] = 0 }
        for (rate, channels) in [(16_000, 1), (22_050, 2)] {
            let a = dir.path("dirty-\(channels).wav"), b = dir.path("clean-\(channels).wav")
            for (path, x) in [(a, dirty), (b, clean)] {
                let w = try WAVFileWriter(path: path, sampleRate: rate, channels: channels, sampleFormat: .float32)
                try w.write(x.flatMap { Array(repeating: $0, count: channels) })
                try w.finish()
            }
            let got = try FileDecoder().decode(path: a)
            XCTAssertTrue(got.allSatisfy(\.isFinite))
            XCTAssertEqual(got, try FileDecoder().decode(path: b), "\(rate) Hz × \(channels)")
            var parser = try PCMStreamParser(format: RawPCMFormat(sampleRate: rate, encoding: .f32le, channels: channels))
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: a)))
            let parsed = try parser.feed(bytes) + parser.finish()
            XCTAssertTrue(parsed.allSatisfy(\.isFinite))
            XCTAssertEqual(parsed.count, clean.count)
        }
    }

    func testSampleRateBelow8kHzIsRejected() throws {
        let path = dir.path("slow.wav")
        try writeSoundFile(path: path, sampleRate: 4_000, channels: 1, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), frames: 400)
        XCTAssertThrowsError(try FileDecoder().decode(path: path)) { error in
            XCTAssertEqual(error as? AudioError, .invalidSampleRate(4_000, source: path))
            XCTAssertTrue("\(error)".contains("4000 Hz"), "\(error)")
        }
    }

    func testSoundFileReportsHeaderAndReadsInterleaved() throws {
        let path = dir.path("hdr.wav")
        let samples: [Double] = [0.5, -0.5, 0.25, -0.25, 0, 1.0 / 16]
        try writeSoundFile(path: path, sampleRate: 22_050, channels: 2, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24),
                           frames: 3, samples: samples)
        let file = try SoundFile(path: path)
        XCTAssertEqual(file.sampleRate, 22_050)
        XCTAssertEqual(file.channels, 2)
        XCTAssertEqual(file.frames, 3)
        XCTAssertEqual(file.format.container, Int32(SF_FORMAT_WAV))
        XCTAssertEqual(file.format.encoding, Int32(SF_FORMAT_PCM_24))
        XCTAssertTrue(file.format.description.contains("24"), file.format.description)
        var buffer = [Float]()
        XCTAssertEqual(try file.read(into: &buffer, maxFrames: 2), 2)
        XCTAssertEqual(Array(buffer[0..<4]), [0.5, -0.5, 0.25, -0.25])
        XCTAssertEqual(try file.read(into: &buffer, maxFrames: 2), 1)
        XCTAssertEqual(Array(buffer[0..<2]), [0, 1.0 / 16])
        XCTAssertEqual(try file.read(into: &buffer, maxFrames: 2), 0)
        file.close()
        XCTAssertThrowsError(try file.read(into: &buffer, maxFrames: 2))
    }
}
