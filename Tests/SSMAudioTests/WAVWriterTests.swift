// WAV output: the header bytes, streamed WAV/raw to a descriptor, files through libsndfile.

import CSndFile
import Foundation
import XCTest
@testable import SSMAudio

final class WAVWriterTests: XCTestCase {
    var dir: TempDirectory!
    override func setUpWithError() throws { dir = try TempDirectory() }
    override func tearDown() { dir = nil }

    private let samples: [Float] = [0, 0.5, -0.5, 1, -1, 1.5, -1.5, 0.25, 1.0 / 32_767, -0.1, .nan]

    /// What `encodePCM16` must produce: round(x·32768), clipped to [-32768, 32767], NaN → 0.
    private var expectedPCM16: [Int16] { [0, 16_384, -16_384, 32_767, -32_768, 32_767, -32_768, 8_192, 1, -3_277, 0] }

    func testHeaderBytes() {
        var expected = [UInt8]()
        expected.fourCC("RIFF"); expected.le32(36 + 8); expected.fourCC("WAVE")
        expected.fourCC("fmt "); expected.le32(16)
        expected.le16(1); expected.le16(1); expected.le32(16_000); expected.le32(32_000); expected.le16(2); expected.le16(16)
        expected.fourCC("data"); expected.le32(8)
        XCTAssertEqual(wavHeader(sampleRate: 16_000, channels: 1, bitsPerSample: 16, dataBytes: 8), expected)

        let streaming = wavHeader(sampleRate: 22_050, channels: 2, bitsPerSample: 32, float: true)
        XCTAssertEqual(streaming.count, 44)
        XCTAssertEqual(Array(streaming[4..<8]), [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertEqual(Array(streaming[40..<44]), [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertEqual(Array(streaming[20..<22]), [3, 0])              // IEEE float
        XCTAssertEqual(Array(streaming[32..<34]), [8, 0])              // block align 2 × 4
    }

    func testPCM16Encoding() {
        var bytes = [UInt8]()
        samples.withUnsafeBufferPointer { encodePCM16($0, into: &bytes) }
        let decoded = stride(from: 0, to: bytes.count, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        XCTAssertEqual(decoded, expectedPCM16)

        // Every 16-bit value survives read scaling (v / 32768) followed by encodePCM16.
        let all = (Int(Int16.min)...Int(Int16.max)).map { Float($0) / 32_768 }
        bytes = []
        all.withUnsafeBufferPointer { encodePCM16($0, into: &bytes) }
        let back = stride(from: 0, to: bytes.count, by: 2).map { Int(Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)) }
        XCTAssertEqual(back, Array(Int(Int16.min)...Int(Int16.max)))
    }

    /// A header with exact sizes plus data is read identically by libsndfile and by the parser.
    func testHeaderRoundTripThroughLibsndfileAndParser() throws {
        let values: [Int16] = [100, -200, 300, -400, 500, -600]
        var bytes = wavHeader(sampleRate: 44_100, channels: 2, bitsPerSample: 16, dataBytes: UInt32(values.count * 2))
        for v in values { bytes.le16(UInt16(bitPattern: v)) }
        let path = dir.path("exact.wav")
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let file = try SoundFile(path: path)
        XCTAssertEqual(file.sampleRate, 44_100)
        XCTAssertEqual(file.channels, 2)
        XCTAssertEqual(file.frames, 3)
        XCTAssertEqual(file.format.rawValue, Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16))

        let (parsed, parser) = try parse(bytes, sizes: chunkSizes(total: bytes.count, fixed: 5))
        XCTAssertEqual(parser.format, RawPCMFormat(sampleRate: 44_100, encoding: .s16le, channels: 2))
        XCTAssertEqual(parsed, [-50, -50, -50].map { Float($0) / 32_768 })
    }

    /// `synthesize | aplay`: header with 0xFFFFFFFF sizes, then samples, written as they come.
    func testStreamWriterPCM16ToDescriptor() throws {
        let path = dir.path("stream16.wav")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let writer = try WAVStreamWriter(fileDescriptor: fd, sampleRate: 24_000)
        try writer.write(Array(samples[0..<4]))
        try writer.write([])
        try writer.write(Array(samples[4...]))
        try writer.finish()
        XCTAssertThrowsError(try writer.write([0]))
        close(fd)
        XCTAssertEqual(writer.framesWritten, Int64(samples.count))

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(bytes.count, 44 + 2 * samples.count)
        XCTAssertEqual(Array(bytes[0..<44]), wavHeader(sampleRate: 24_000, channels: 1, bitsPerSample: 16))
        let (parsed, parser) = try parse(bytes, sizes: chunkSizes(total: bytes.count, fixed: 3))
        XCTAssertEqual(parser.container, .wav)
        XCTAssertEqual(parser.sampleRate, 24_000)
        XCTAssertNil(parser.declaredDataBytes)
        XCTAssertEqual(parsed, expectedPCM16.map { Float($0) / 32_768 })

        // libsndfile (like aplay and sox) accepts the unknown-size header and reads to the end of the file.
        let file = try SoundFile(path: path)
        XCTAssertEqual(file.frames, Int64(samples.count))
    }

    func testStreamWriterFloat32AndRaw() throws {
        let finite = Array(samples.dropLast())
        // Float WAV: exact round trip.
        var path = dir.path("streamf.wav")
        var fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let fw = try WAVStreamWriter(fileDescriptor: fd, sampleRate: 16_000, sampleFormat: .float32)
        try fw.write(finite)
        try fw.finish()
        close(fd)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let (parsedFloat, parser) = try parse(bytes, sizes: [bytes.count])
        XCTAssertEqual(parser.format?.encoding, .f32le)
        XCTAssertEqual(parsedFloat, finite)

        // Raw: no header, just s16le.
        path = dir.path("stream.raw")
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let rw = try WAVStreamWriter(fileDescriptor: fd, sampleRate: 16_000, header: false)
        try rw.write(samples)
        try rw.finish()
        close(fd)
        bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(bytes.count, 2 * samples.count)
        var expectedBytes = [UInt8]()
        samples.withUnsafeBufferPointer { encodePCM16($0, into: &expectedBytes) }
        XCTAssertEqual(bytes, expectedBytes)

        // A stream with no samples still gets its header at finish.
        path = dir.path("empty.wav")
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try WAVStreamWriter(fileDescriptor: fd, sampleRate: 16_000).finish()
        close(fd)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), wavHeader(sampleRate: 16_000, channels: 1, bitsPerSample: 16))
    }

    func testClosedReaderIsOutputClosed() throws {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        close(fds[0])
        defer { close(fds[1]) }
        let writer = try WAVStreamWriter(fileDescriptor: fds[1], name: "<stdout>", sampleRate: 16_000)
        XCTAssertThrowsError(try writer.write([0.1, 0.2])) {
            XCTAssertEqual($0 as? AudioError, .outputClosed(path: "<stdout>"))
        }
    }

    func testFileWriterRoundTrip() throws {
        let finite = Array(samples.dropLast())
        // 16-bit: the file holds exactly what encodePCM16 makes (×32768, round, clip).
        var path = dir.path("out16.wav")
        var w = try WAVFileWriter(path: path, sampleRate: 16_000)
        try w.write(Array(finite[0..<3]))
        try w.write(Array(finite[3...]))
        try w.finish()
        XCTAssertThrowsError(try w.write([0]))
        var file = try SoundFile(path: path)
        XCTAssertEqual(file.format.rawValue, Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16))
        XCTAssertEqual(file.frames, Int64(finite.count))
        var buffer = [Float]()
        XCTAssertEqual(try file.read(into: &buffer, maxFrames: 100), finite.count)
        XCTAssertEqual(Array(buffer[0..<finite.count]), expectedPCM16.dropLast().map { Float($0) / 32_768 })

        // Many values between the representable ones (libsndfile's own conversion rounds about half of
        // these 1 lower): the file's samples are encodePCM16's, bit for bit.
        var rng = SystemRandomNumberGenerator()
        let many = (0..<4_000).map { _ in Float.random(in: -1...1, using: &rng) }
        path = dir.path("many16.wav")
        w = try WAVFileWriter(path: path, sampleRate: 16_000)
        try w.write(many)
        try w.finish()
        var expected = [UInt8]()
        many.withUnsafeBufferPointer { encodePCM16($0, into: &expected) }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes.suffix(expected.count)), expected, "16-bit file samples differ from encodePCM16")

        // Float: exact, and decodes through the normal path (16 kHz → passthrough).
        path = dir.path("outf.wav")
        w = try WAVFileWriter(path: path, sampleRate: 16_000, sampleFormat: .float32)
        try w.write(finite)
        try w.finish()
        file = try SoundFile(path: path)
        XCTAssertEqual(file.format.encoding, Int32(SF_FORMAT_FLOAT))
        XCTAssertEqual(try FileDecoder().decode(path: path), finite)
    }

    func testFileWriterErrors() {
        XCTAssertThrowsError(try WAVFileWriter(path: dir.path("no/such/dir/x.wav"), sampleRate: 16_000)) { error in
            guard case let AudioError.cannotOpen(path, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("no/such/dir/x.wav"))
        }
        XCTAssertThrowsError(try WAVFileWriter(path: dir.path("x.wav"), sampleRate: 0))
        XCTAssertThrowsError(try WAVFileWriter(path: dir.path("y.wav"), sampleRate: 16_000, channels: 2).write([0.1, 0.2, 0.3]))
    }
}
