// AudioFile.swift: audio files in and out, for embedders (wraps SSMAudio's libsndfile reader and WAV writers).

import Foundation
import SSMAudio

/// Reading and writing audio files.
public enum AudioFile {
    /// Source frames read per block.
    public static let blockFrames = 16_384

    /// Calls `body` with each block of `path` mixed down to mono, at the file's own rate, never holding
    /// the whole file. Any format libsndfile reads; rates 8 kHz … 768 kHz.
    public static func forEachBlock(path: String, blockFrames: Int = blockFrames,
                                    _ body: (_ samples: [Float], _ sampleRate: Int) throws -> Void) throws {
        let file = try SoundFile(path: path)
        defer { file.close() }
        var scratch = [Float](), mono = [Float]()
        while true {
            mono.removeAll(keepingCapacity: true)
            guard try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: max(1, blockFrames)) > 0 else { return }
            try body(mono, file.sampleRate)
        }
    }

    /// The whole file as mono samples, at its own rate or, given `sampleRate`, resampled to it
    /// (libsoxr, the recognizer's resampler).
    public static func read(path: String, sampleRate target: Int? = nil) throws -> (samples: [Float], sampleRate: Int) {
        if let target { try AudioLimits.validate(sampleRate: target, channels: 1, source: "requested rate") }
        // One open of the file (it may be a pipe): the rate comes with the first block.
        let file = try SoundFile(path: path)
        defer { file.close() }
        var all = [Float](), mono = [Float](), scratch = [Float]()
        let resampler = try target.flatMap { $0 == file.sampleRate ? nil : try Resampler(inputRate: file.sampleRate, outputRate: $0) }
        while true {
            mono.removeAll(keepingCapacity: true)
            guard try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: blockFrames) > 0 else { break }
            if let r = resampler { try r.process(mono, into: &all) } else { all += mono }
        }
        if let r = resampler { try r.flush(into: &all) }
        return (all, resampler?.outputRate ?? file.sampleRate)
    }

    /// Writes mono samples as a 16-bit WAV file.
    public static func writeWAV(path: String, samples: [Float], sampleRate: Int) throws {
        let w = try WAVFileWriter(path: path, sampleRate: sampleRate)
        try samples.withUnsafeBufferPointer { try w.write($0) }
        try w.finish()
    }

    /// The 44-byte header of a 16-bit mono WAV stream of unknown length (sizes 0xFFFFFFFF, the
    /// convention of live streams, understood by aplay, sox and ffmpeg).
    public static func streamingWAVHeader(sampleRate: Int) -> [UInt8] {
        wavHeader(sampleRate: sampleRate, channels: 1, bitsPerSample: 16)
    }

    /// Samples as 16-bit little-endian PCM, clipped the way the WAV writers clip.
    public static func pcm16(_ samples: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        samples.withUnsafeBufferPointer { encodePCM16($0, into: &bytes) }
        return bytes
    }
}
