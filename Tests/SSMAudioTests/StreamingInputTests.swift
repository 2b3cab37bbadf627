// StreamingAudioInput (parser + resampler) and FileDescriptorSource (stdin-style reading).

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
        let input = try StreamingAudioInput(format: format)
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
            let reference = try FileAudioDecoder().decode(path: path)
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
        let input = try StreamingAudioInput()
        XCTAssertEqual(try input.feed([0, 0x40, 0, 0xC0, 1]) + input.finish(), [0.5, -0.5])
        XCTAssertEqual(input.sourceFormat, RawPCMFormat())
        XCTAssertEqual(input.container, .raw)
        XCTAssertEqual(input.droppedTrailingBytes, 1)
    }

    func testTruncatedHeaderSurfacesAtFinish() throws {
        let input = try StreamingAudioInput()
        XCTAssertEqual(try input.feed(Array(wavHeader(sampleRate: 16_000, channels: 1, bitsPerSample: 16).prefix(30))), [])
        XCTAssertThrowsError(try input.finish()) {
            guard case AudioError.malformedWAVHeader = $0 else { return XCTFail("\($0)") }
        }
    }

    // MARK: - FileDescriptorSource

    func testDispatchSourceDeliversEveryByteThenEnd() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        var rng = SplitMix64(seed: 42)
        let payload = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let writerFD = fds[1]
        let writer = Thread {
            payload.withUnsafeBytes { all in
                var offset = 0
                var step = 1
                while offset < all.count {
                    let n = min(step, all.count - offset)
                    _ = write(writerFD, all.baseAddress! + offset, n)
                    offset += n
                    step = step * 3 % 70_001 + 1   // 1 byte, bursts, and everything between
                    if offset < 1_000 { usleep(200) }
                }
            }
            close(writerFD)
        }
        writer.start()

        let queue = DispatchQueue(label: "test.stdin")
        let done = expectation(description: "end")
        var received = [UInt8]()
        var chunks = 0
        var endError: AudioError?
        let source = FileDescriptorSource(fileDescriptor: fds[0], name: "<pipe>", maxChunkBytes: 8_192)
        source.start(queue: queue, onData: { bytes in
            dispatchPrecondition(condition: .onQueue(queue))
            chunks += 1
            XCTAssertLessThanOrEqual(bytes.count, 8_192)
            received.append(contentsOf: bytes)
        }, onEnd: { error in
            endError = error
            done.fulfill()
        })
        wait(for: [done], timeout: 10)
        close(fds[0])
        queue.sync {
            XCTAssertNil(endError)
            XCTAssertEqual(received.count, payload.count)
            XCTAssertTrue(received == payload)
            XCTAssertGreaterThan(chunks, 10)
        }
    }

    func testDispatchSourceFeedsStreamingInput() throws {
        let path = dir.path("pipe.wav")
        try writeSoundFile(path: path, sampleRate: 22_050, channels: 2, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), frames: 11_025)
        let reference = try FileAudioDecoder().decode(path: path)
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let input = try StreamingAudioInput()
        let queue = DispatchQueue(label: "test.file")
        let done = expectation(description: "end")
        var out = [Float]()
        var failure: Error?
        FileDescriptorSource(fileDescriptor: fd, name: path, maxChunkBytes: 1_000).start(queue: queue, onData: { bytes in
            do { try input.feed(bytes, into: &out) } catch { failure = error }
        }, onEnd: { error in
            if let error { failure = error }
            do { out += try input.finish() } catch { failure = error }
            done.fulfill()
        })
        wait(for: [done], timeout: 10)
        queue.sync {
            XCTAssertNil(failure)
            XCTAssertTrue(out == reference)
        }
    }

    func testReadAllAndReadErrors() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let payload: [UInt8] = Array(0..<250)
        XCTAssertEqual(write(fds[1], payload, payload.count), payload.count)
        close(fds[1])
        var got = [UInt8]()
        try FileDescriptorSource.readAll(fileDescriptor: fds[0], name: "<pipe>", chunkBytes: 16) { got += $0 }
        close(fds[0])
        XCTAssertEqual(got, payload)

        // A closed descriptor: EBADF, reported with the name.
        XCTAssertThrowsError(try FileDescriptorSource.readAll(fileDescriptor: fds[0], name: "<stdin>") { _ in }) { error in
            guard case let AudioError.readFailed(path, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "<stdin>")
            XCTAssertTrue(reason.contains("Bad file descriptor"), reason)
        }
    }
}
