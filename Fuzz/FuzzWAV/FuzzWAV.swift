// libFuzzer target: the stdin audio parser (raw PCM / WAV detection, header parsing, sample
// conversion, mixdown) and the streaming resampler behind it, fed the input in pieces.
// Byte 0 picks the piece size and byte 1 the raw format used when there is no WAV header.
// A WAV the parser reads is also written to a file and read by `SoundFile` (the WAV file reader that
// shares the parser's rules): the samples must be the same, bit for bit.
// Fuzz: Fuzz/run.sh wav SECONDS
import Foundation
import FuzzSupport
import SSMAudio
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWAV(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard input.count >= 2 else { return 0 }
    let piece = Int(input[0]) + 1
    let encodings = PCMEncoding.allCases
    let format = RawPCMFormat(sampleRate: [8_000, 16_000, 44_100, 96_000][Int(input[1]) & 3],
                              encoding: encodings[Int(input[1] >> 2) % encodings.count],
                              channels: Int(input[1] >> 5) + 1)
    let body = UnsafeRawBufferPointer(rebasing: input[2...])
    guard var parser = try? PCMStreamParser(format: format) else { return 0 }
    var resampler: Resampler?
    var samples = [Float](), out = [Float](), parsed = [Float]()
    // Parser → resampler to 16 kHz, created once the stream's rate is known (as the stdin reader does).
    func resample() throws {
        if resampler == nil, let rate = parser.sampleRate { resampler = try Resampler(inputRate: rate, outputRate: 16_000) }
        if let r = resampler { try r.process(samples, into: &out) }
        parsed += samples
        samples.removeAll(keepingCapacity: true)
    }
    var offset = 0
    do {
        while offset < body.count {
            let end = min(body.count, offset + piece)
            try parser.feed(UnsafeRawBufferPointer(rebasing: body[offset..<end]), into: &samples)
            try resample()
            offset = end
        }
        samples += try parser.finish()
        try resample()
        if let r = resampler { try r.flush(into: &out) }
    } catch {
        return 0 // a clear error is a correct outcome; crashes and hangs are what we look for
    }
    for x in out where !x.isFinite { fatalError("non-finite sample out of the parser") }
    if parser.container == .wav { compareWithFileReader(body, parsed) }
    return 0
}

/// The same bytes as a file through `SoundFile`: the samples the parser gave.
func compareWithFileReader(_ bytes: UnsafeRawBufferPointer, _ parsed: [Float]) {
    let path = NSTemporaryDirectory() + "fuzz-wav-\(getpid()).wav"
    defer { unlink(path) }
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)),
          let file = try? SoundFile(path: path) else { fatalError("SoundFile refused a WAV the parser read") }
    var mono = [Float](), scratch = [Float]()
    do {
        while try file.readMono(appendingTo: &mono, scratch: &scratch, maxFrames: 4_096) > 0 {}
    } catch { fatalError("SoundFile failed on a WAV the parser read: \(error)") }
    guard mono.count == parsed.count, zip(mono, parsed).allSatisfy({ $0.bitPattern == $1.bitPattern }) else {
        fatalError("SoundFile and the parser disagree: \(mono.count) vs \(parsed.count) samples")
    }
}

#if FUZZING
@_cdecl("fuzz_wav_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzWAV($0, $1) }
}
#else
@main struct Runner {
    static func main() throws {
        print("ran \(try replayCorpus(Array(CommandLine.arguments.dropFirst())) { fuzzWAV($0, $1) }) inputs")
    }
}
#endif
