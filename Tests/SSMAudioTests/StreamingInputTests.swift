// The stdin half of the audio front end (parser + resampler) agrees with the file half.

import CSndFile
import Dispatch
import Foundation
import XCTest
@testable import SSMAudio

final class StreamingInputTests: XCTestCase {
    var dir: TempDirectory!
    override func setUpWithError() throws { dir = try TempDirectory() }
    override func tearDown() { dir = nil }

    private func stream(_ bytes: [UInt8], sizes: [Int], format: RawPCMFormat = RawPCMFormat()) throws -> [Float] {
        let input = try StreamDecoder(format: format)
        var out = [Float]()
        var offset = 0
        try bytes.withUnsafeBytes { all in
            for s in sizes {
                try input.feed(UnsafeRawBufferPointer(rebasing: all[offset..<offset + s]), into: &out)
                offset += s
            }
        }
        return try out + input.finish()
    }

    /// The final samples of `stream` equal those of `transcribe` (file decoding) for the same audio,
    /// whatever the byte split.
    func testStreamedWAVEqualsFileDecoding() throws {
        for (rate, channels, subtype) in [(44_100, 2, SF_FORMAT_PCM_16), (8_000, 1, SF_FORMAT_PCM_24), (48_000, 1, SF_FORMAT_FLOAT)] {
            let path = dir.path("s-\(rate).wav")
            try writeSoundFile(path: path, sampleRate: rate, channels: channels, format: Int32(SF_FORMAT_WAV | subtype), frames: rate / 2)
            let reference = try FileDecoder().decode(path: path)
            XCTAssertEqual(reference.count, 8_000)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            for sizes in [[bytes.count], chunkSizes(total: bytes.count, fixed: 1), chunkSizes(total: bytes.count, fixed: 4_096),
                          randomChunkSizes(total: bytes.count, maxChunk: 500, seed: UInt64(rate))] {
                XCTAssertTrue(try stream(bytes, sizes: sizes) == reference, "\(rate) Hz, \(sizes.count) chunks")
            }
        }
    }

    func testRawInputIsResampledTo16kHz() throws {
        var bytes = [UInt8]()
        for i in 0..<8_000 {
            let v = Float(testSignal(channel: 0, time: Double(i) / 8_000))
            bytes.le32(v.bitPattern)
        }
        let format = RawPCMFormat(sampleRate: 8_000, encoding: .f32le, channels: 1)
        let out = try stream(bytes, sizes: chunkSizes(total: bytes.count, fixed: 160), format: format)
        XCTAssertEqual(out.count, 16_000)
        XCTAssertLessThan(maxError(out, range: 1_600..<14_400) { testSignal(channel: 0, time: $0) }, 5e-6)

        // 16 kHz raw is a passthrough of the parser's samples.
        let input = try StreamDecoder()
        XCTAssertEqual(try input.feed([0, 0x40, 0, 0xC0, 1]) + input.finish(), [0.5, -0.5])
        XCTAssertEqual(input.parser.format, RawPCMFormat())
        XCTAssertEqual(input.parser.container, .raw)
        XCTAssertEqual(input.parser.droppedTrailingBytes, 1)
    }

    func testTruncatedHeaderSurfacesAtFinish() throws {
        let input = try StreamDecoder()
        XCTAssertEqual(try input.feed(Array(wavHeader(sampleRate: 16_000, channels: 1, bitsPerSample: 16).prefix(30))), [])
        XCTAssertThrowsError(try input.finish()) {
            guard case AudioError.malformedWAVHeader = $0 else { return XCTFail("\($0)") }
        }
    }
}
