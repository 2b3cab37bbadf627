// Shared helpers for SSMAudioTests: temp files written by libsndfile itself, signals, splits.

import CSndFile
import Foundation
import XCTest
@testable import SSMAudio

/// A temporary directory removed when the object goes away.
final class TempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ssmaudio-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The test signal: channel 0 a 440 Hz sine of amplitude 0.5, channel 1 a 1000 Hz sine of amplitude 0.3
/// with phase 0.7, further channels a 300 Hz sine of amplitude 0.2.
func testSignal(channel: Int, time t: Double) -> Double {
    switch channel {
    case 0: return 0.5 * sin(2 * .pi * 440 * t)
    case 1: return 0.3 * sin(2 * .pi * 1000 * t + 0.7)
    default: return 0.2 * sin(2 * .pi * 300 * t)
    }
}

/// The analytic mono mixdown of `testSignal` over `channels` channels.
func testMixdown(channels: Int, time t: Double) -> Double {
    (0..<channels).map { testSignal(channel: $0, time: t) }.reduce(0, +) / Double(channels)
}

/// Writes `frames` frames of `testSignal` (or `samples`, interleaved) with libsndfile.
func writeSoundFile(path: String, sampleRate: Int, channels: Int, format: Int32, frames: Int,
                    samples: [Double]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
    var info = SF_INFO()
    info.samplerate = Int32(sampleRate)
    info.channels = Int32(channels)
    info.format = format
    guard let sf = sf_open(path, Int32(SFM_WRITE), &info) else {
        XCTFail("libsndfile cannot write \(path): \(String(cString: sf_strerror(nil)))", file: file, line: line)
        throw AudioError.cannotOpen(path: path, reason: "test writer")
    }
    defer { sf_close(sf) }
    var data = samples ?? []
    if samples == nil {
        data.reserveCapacity(frames * channels)
        for i in 0..<frames {
            let t = Double(i) / Double(sampleRate)
            for c in 0..<channels { data.append(testSignal(channel: c, time: t)) }
        }
    }
    let written = sf_writef_double(sf, data, sf_count_t(data.count / channels))
    XCTAssertEqual(Int(written), data.count / channels, file: file, line: line)
}

/// Largest |decoded[k] − expected(k / 16000)| over `range`.
func maxError(_ decoded: [Float], range: Range<Int>, expected: (Double) -> Double) -> Double {
    var worst = 0.0
    for k in range { worst = max(worst, abs(Double(decoded[k]) - expected(Double(k) / 16_000))) }
    return worst
}

/// Deterministic random numbers (SplitMix64) so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Chunk sizes that cover `total` bytes: fixed `size`, or random sizes in 1…`maxRandom`.
func chunkSizes(total: Int, fixed size: Int) -> [Int] {
    stride(from: 0, to: total, by: size).map { min(size, total - $0) }
}

func randomChunkSizes(total: Int, maxChunk: Int, seed: UInt64) -> [Int] {
    var rng = SplitMix64(seed: seed)
    var sizes = [Int]()
    var done = 0
    while done < total {
        let s = min(Int.random(in: 1...maxChunk, using: &rng), total - done)
        sizes.append(s)
        done += s
    }
    return sizes
}

/// The split patterns every byte-stream test runs: 1, 7, 160 and 4096 bytes, whole, and random.
func allSplits(total: Int) -> [(String, [Int])] {
    var result: [(String, [Int])] = [("whole", [total])]
    for size in [1, 7, 160, 4096] { result.append(("\(size)", chunkSizes(total: total, fixed: size))) }
    for seed in [1, 2, 3] as [UInt64] {
        result.append(("random\(seed)", randomChunkSizes(total: total, maxChunk: 300, seed: seed)))
    }
    result.append(("random-large", randomChunkSizes(total: total, maxChunk: 10_000, seed: 99)))
    return result
}

/// Parses `bytes` fed in pieces of `sizes`, then `finish()`.
func parse(_ bytes: [UInt8], sizes: [Int], format: RawPCMFormat = RawPCMFormat()) throws -> (samples: [Float], parser: PCMStreamParser) {
    var parser = try PCMStreamParser(format: format)
    var out = [Float]()
    var offset = 0
    try bytes.withUnsafeBytes { all in
        for s in sizes {
            try parser.feed(UnsafeRawBufferPointer(rebasing: all[offset..<offset + s]), into: &out)
            offset += s
        }
    }
    out += try parser.finish()
    return (out, parser)
}

/// Little-endian byte helpers for building streams by hand.
extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { append(UInt8(v >> UInt32(s) & 0xFF)) } }
    mutating func le24(_ v: Int32) { let u = UInt32(bitPattern: v); append(UInt8(u & 0xFF)); append(UInt8(u >> 8 & 0xFF)); append(UInt8(u >> 16 & 0xFF)) }
    mutating func fourCC(_ s: String) { append(contentsOf: Array(s.utf8)) }
}

/// Builds a WAV stream by hand.
///
/// - Parameters:
///   - chunksBeforeData: extra chunks (id, payload) between `fmt ` and `data`; odd payloads get a pad byte.
///   - dataSizeField: the `data` size to write (default: the real size).
///   - extensible: write `WAVE_FORMAT_EXTENSIBLE` with `tag` as the sub-format.
func makeWAV(tag: UInt16, channels: Int, sampleRate: Int, bits: Int, data: [UInt8],
             chunksBeforeFmt: [(String, [UInt8])] = [], chunksBeforeData: [(String, [UInt8])] = [],
             dataSizeField: UInt32? = nil, riffSizeField: UInt32? = nil, extensible: Bool = false,
             trailing: [UInt8] = []) -> [UInt8] {
    var fmt = [UInt8]()
    fmt.le16(extensible ? 0xFFFE : tag)
    fmt.le16(UInt16(channels))
    fmt.le32(UInt32(sampleRate))
    let blockAlign = channels * bits / 8
    fmt.le32(UInt32(sampleRate * blockAlign))
    fmt.le16(UInt16(blockAlign))
    fmt.le16(UInt16(bits))
    if extensible {
        fmt.le16(22)              // cbSize
        fmt.le16(UInt16(bits))    // valid bits
        fmt.le32(channels == 2 ? 3 : 4) // channel mask
        fmt.le16(tag)             // sub-format GUID: tag + KSDATAFORMAT suffix
        fmt.append(contentsOf: [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
    }
    var body = [UInt8]()
    body.fourCC("WAVE")
    func chunk(_ id: String, _ payload: [UInt8]) {
        body.fourCC(id)
        body.le32(UInt32(payload.count))
        body.append(contentsOf: payload)
        if payload.count % 2 == 1 { body.append(0) }
    }
    for (id, p) in chunksBeforeFmt { chunk(id, p) }
    chunk("fmt ", fmt)
    for (id, p) in chunksBeforeData { chunk(id, p) }
    body.fourCC("data")
    body.le32(dataSizeField ?? UInt32(data.count))
    body.append(contentsOf: data)
    body.append(contentsOf: trailing)
    var out = [UInt8]()
    out.fourCC("RIFF")
    out.le32(riffSizeField ?? UInt32(body.count))
    out.append(contentsOf: body)
    return out
}

/// The file half of the audio front end as the recognizer composes it (`SoundFile.readMono` block by
/// block, then `Resampler` to 16 kHz), so these tests check the composition the library relies on.
struct FileDecoder {
    var outputSampleRate = 16_000

    func info(path: String) throws -> SoundFile { try SoundFile(path: path) }

    func decode(path: String, blockFrames: Int = 16_384, body: ([Float]) throws -> Void) throws {
        let file = try SoundFile(path: path)
        let resampler = try Resampler(inputRate: file.sampleRate, outputRate: outputSampleRate)
        var scratch = [Float](), mono = [Float](), out = [Float]()
        while true {
            mono.removeAll(keepingCapacity: true)
            guard try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: blockFrames) > 0 else { break }
            out.removeAll(keepingCapacity: true)
            try resampler.process(mono, into: &out)
            if !out.isEmpty { try body(out) }
        }
        out.removeAll(keepingCapacity: true)
        try resampler.flush(into: &out)
        if !out.isEmpty { try body(out) }
    }

    func decode(path: String) throws -> [Float] {
        var all = [Float]()
        try decode(path: path) { all += $0 }
        return all
    }
}

/// The stream half (stdin): `PCMStreamParser`, then a `Resampler` to 16 kHz once the rate is known.
final class StreamDecoder {
    var parser: PCMStreamParser
    var resampler: Resampler?
    private var scratch = [Float]()
    init(format: RawPCMFormat = RawPCMFormat()) throws { parser = try PCMStreamParser(format: format) }

    func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [Float]) throws {
        scratch.removeAll(keepingCapacity: true)
        try parser.feed(bytes, into: &scratch)
        try resample(into: &out)
    }

    func feed(_ bytes: [UInt8]) throws -> [Float] {
        var out = [Float]()
        try bytes.withUnsafeBytes { try feed($0, into: &out) }
        return out
    }

    func finish() throws -> [Float] {
        scratch = try parser.finish()
        var out = [Float]()
        try resample(into: &out)
        try resampler?.flush(into: &out)
        return out
    }

    private func resample(into out: inout [Float]) throws {
        if resampler == nil, let rate = parser.sampleRate { resampler = try Resampler(inputRate: rate, outputRate: 16_000) }
        if let r = resampler, !scratch.isEmpty { try r.process(scratch, into: &out) }
    }
}
