import Foundation
import SSMPipeline
import SSMSpeech
import SSMTestSupport
import XCTest

/// `PacedFileAudioSource` (what `bench` streams a file with) hands out the very chunks, with the same
/// audio clock, that `MemoryAudioSource` makes of the whole file held in memory, whatever the block size.
final class PacedFileSourceTests: XCTestCase {
    func chunks<S: PipelineSource>(_ source: S) throws -> [([Float], Int, Double)] where S.Output == AudioBlock {
        var out: [([Float], Int, Double)] = []
        try source.run { block, end in out.append((block.samples, block.sampleRate, end)); return true }
        return out
    }

    func testSameChunksAsTheFileInMemory() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("paced-\(UUID().uuidString).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SeededRandom(seed: 3)
        let x = (0..<20_011).map { _ in 0.3 * rng.normal() }
        try AudioFile.writeWAV(path: path, samples: x, sampleRate: 8_000)
        let (samples, rate) = try AudioFile.read(path: path)
        XCTAssertEqual(rate, 8_000)
        for (chunk, block) in [(320, 16_384), (320, 1_000), (1, 7), (7_919, 333), (50_000, 4_096)] {
            let memory = try chunks(MemoryAudioSource(samples: samples, sampleRate: rate, chunkSamples: chunk))
            let file = try PacedFileAudioSource(path: path, chunkSamples: { _ in chunk }, blockFrames: block)
            let paced = try chunks(file)
            XCTAssertEqual(paced.count, memory.count, "chunk \(chunk) block \(block)")
            XCTAssertTrue(zip(paced, memory).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 }, "chunk \(chunk) block \(block)")
            XCTAssertEqual(file.samplesEmitted, samples.count)
            XCTAssertEqual(file.sampleRate, 8_000)
        }
    }

    func testUnreadableFileFailsAtInit() {
        XCTAssertThrowsError(try PacedFileAudioSource(path: "/nonexistent/x.wav", chunkSamples: { $0 / 25 }))
    }
}
