// Resampler: streaming equals one-shot, passthrough, lengths, errors.

import XCTest
@testable import SSMAudio

final class ResamplerTests: XCTestCase {
    private func sine(count: Int, rate: Int) -> [Float] {
        (0..<count).map { Float(testSignal(channel: 0, time: Double($0) / Double(rate))) }
    }

    private func oneShot(_ x: [Float], from rate: Int, to out: Int = 16_000) throws -> [Float] {
        let r = try Resampler(inputRate: rate, outputRate: out)
        return try r.process(x) + r.flush()
    }

    /// libsoxr's output does not depend on how the input is split: bit-identical for every block pattern.
    func testStreamingIsBitIdenticalToOneShotForAnySplit() throws {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let x = sine(count: rate / 2, rate: rate)
            let reference = try oneShot(x, from: rate)
            var patterns = [1, 7, 160, 4_096].map { chunkSizes(total: x.count, fixed: $0) }
            patterns.append(randomChunkSizes(total: x.count, maxChunk: 3_000, seed: UInt64(rate)))
            for sizes in patterns {
                let r = try Resampler(inputRate: rate, outputRate: 16_000)
                var out = [Float]()
                var offset = 0
                try x.withUnsafeBufferPointer { all in
                    for s in sizes {
                        try r.process(UnsafeBufferPointer(rebasing: all[offset..<offset + s]), into: &out)
                        offset += s
                    }
                }
                try r.flush(into: &out)
                XCTAssertEqual(out, reference, "\(rate) Hz, first chunk \(sizes[0]) of \(sizes.count)")
            }
        }
    }

    func testOutputLengthIsRoundHalfUpOfScaledLength() throws {
        for (rate, n) in [(44_100, 44_101), (44_100, 100), (32_000, 1), (32_000, 3), (32_000, 5), (48_000, 1), (8_000, 3)] {
            let expected = (n * 16_000 * 2 + rate) / (2 * rate)
            XCTAssertEqual(try oneShot(sine(count: n, rate: rate), from: rate).count, expected, "\(n) at \(rate) Hz")
        }
    }

    func testUpsamplingContentAndDelayCompensation() throws {
        let x = sine(count: 8_000, rate: 8_000)
        let y = try oneShot(x, from: 8_000)
        XCTAssertEqual(y.count, 16_000)
        XCTAssertLessThan(maxError(y, range: 1_600..<14_400) { testSignal(channel: 0, time: $0) }, 5e-6)
    }

    func testEqualRatesArePassthrough() throws {
        let r = try Resampler(inputRate: 16_000, outputRate: 16_000)
        XCTAssertTrue(r.isPassthrough)
        let x: [Float] = [0.1, -0.2, 0.3, 2.5]
        XCTAssertEqual(try r.process(x), x)
        XCTAssertEqual(try r.process([]), [])
        XCTAssertEqual(try r.flush(), [])
    }

    func testEmptyInputProducesNothingAndDoesNotEndTheStream() throws {
        let r = try Resampler(inputRate: 44_100, outputRate: 16_000)
        XCTAssertEqual(try r.process([]), [])
        let x = sine(count: 4_410, rate: 44_100)
        let out = try r.process(x) + r.flush()
        XCTAssertEqual(out, try oneShot(x, from: 44_100))
    }

    func testProcessAfterFlushThrowsUntilReset() throws {
        let r = try Resampler(inputRate: 48_000, outputRate: 16_000)
        let x = sine(count: 4_800, rate: 48_000)
        let first = try r.process(x) + r.flush()
        XCTAssertThrowsError(try r.process(x)) { error in
            guard case AudioError.resamplerFailed = error else { return XCTFail("\(error)") }
        }
        try r.reset()
        XCTAssertEqual(try r.process(x) + r.flush(), first)
    }

    func testInvalidRatesThrow() {
        XCTAssertThrowsError(try Resampler(inputRate: 0, outputRate: 16_000)) { error in
            guard case AudioError.invalidArgument = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Resampler(inputRate: 16_000, outputRate: -1))
    }

    func testQualitiesAllWork() throws {
        let x = sine(count: 22_050, rate: 22_050)
        for q in [Resampler.Quality.quick, .low, .medium, .high, .veryHigh] {
            let r = try Resampler(inputRate: 22_050, outputRate: 16_000, quality: q)
            let y = try r.process(x) + r.flush()
            XCTAssertEqual(y.count, 16_000, "\(q)")
            XCTAssertLessThan(maxError(y, range: 1_600..<14_400) { testSignal(channel: 0, time: $0) }, q == .quick ? 0.05 : 5e-3, "\(q)")
        }
    }
}
