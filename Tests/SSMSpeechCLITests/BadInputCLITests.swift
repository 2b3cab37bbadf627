// Bad inputs through the built `ssmspeech` binary (issue: reliability): broken and hostile audio files,
// corrupted models, and stdin that ends, stalls, bursts or trickles, with signals and closed pipes.
//
// Every case must give either a correct result, or exactly one `error:` line on stderr naming the file
// (or tensor) and the reason, a non-zero exit status, nothing on stdout but the results of the good
// files, and no crash or hang (every run has a deadline). Malformed WAV headers are written by hand.
// Docs/RELIABILITY.md lists what each case prints.

import Foundation
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

final class BadInputCLITests: XCTestCase {
    // MARK: - Running the binary

    struct Run {
        var out: String
        var err: String
        var status: Int32
        var reason: Process.TerminationReason
        var timedOut: Bool
        /// Largest VmHWM (peak resident set, kB) read from /proc while the process ran; 0 if not sampled.
        var peakRSSkB: Int
        var errorLines: [Substring] { err.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
    }

    static var binary: URL!
    static var dir: URL!
    /// Tiny random-weight model (fast; gibberish but deterministic transcripts).
    static var model: String!
    /// 1 s of sine + noise at 16 kHz, 16-bit mono, and its `tsv` line under `model`.
    static var good: String!
    static var goodLine: String!
    static var goodBytes: [UInt8]!
    /// `transcribe --endpoint-seconds 0` of the good file, text format: what a whole stream's finals give.
    static var goodText: String!

    var tmp: URL!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN) // the tests write to pipes whose reader may be gone
        if Self.binary == nil {
            let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            let binary = products.appendingPathComponent("ssmspeech")
            _ = try XCTUnwrap(FileManager.default.isExecutableFile(atPath: binary.path) ? binary : nil,
                              "ssmspeech not built at \(binary.path)")
            Self.binary = binary
            Self.dir = FileManager.default.temporaryDirectory.appendingPathComponent("ssmspeech-bad-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: Self.dir, withIntermediateDirectories: true)
            Self.model = try Self.makeTinyModel(in: Self.dir)
            Self.goodBytes = Self.wav(pcm16: Self.speechLike(seconds: 1, rate: 16_000), rate: 16_000)
            Self.good = Self.dir.appendingPathComponent("good.wav").path
            try Data(Self.goodBytes).write(to: URL(fileURLWithPath: Self.good))
            let r = try run(["transcribe", "--model", Self.model, "--format", "tsv", Self.good])
            XCTAssertEqual(r.status, 0, r.err)
            Self.goodLine = r.out
            XCTAssertGreaterThan(Self.goodLine.count, Self.good.count + 2, "the good file needs a non-empty transcript")
            let t = try run(["transcribe", "--model", Self.model, "--endpoint-seconds", "0", Self.good])
            XCTAssertEqual(t.status, 0, t.err)
            Self.goodText = t.out
        }
        tmp = Self.dir.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override class func tearDown() {
        if let dir { try? FileManager.default.removeItem(at: dir) }
        dir = nil
        binary = nil
    }

    /// Runs `ssmspeech args`. `feed` writes stdin (given the write end, closed afterwards; stdin is
    /// /dev/null without it); `during` runs beside the process (given its pid). A run past `timeout`
    /// seconds is killed and reported as a hang.
    func run(_ args: [String], timeout: Double = 120, sampleRSS: Bool = false, mayBeKilled: Bool = false,
             feed: ((Int32) -> Void)? = nil, during: ((pid_t) -> Void)? = nil) throws -> Run {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = feed.map { _ in Pipe() }
        p.standardInput = input ?? FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        let o = Shared(Data()), e = Shared(Data()), timedOut = Shared(false), peak = Shared(0)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { o.value = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { e.value = err.fileHandleForReading.readDataToEndOfFile() }
        if let feed, let input {
            DispatchQueue.global().async(group: group) {
                feed(input.fileHandleForWriting.fileDescriptor)
                try? input.fileHandleForWriting.close()
            }
        }
        if let during { DispatchQueue.global().async(group: group) { during(pid) } }
        let finished = DispatchSemaphore(value: 0)
        if sampleRSS {
            DispatchQueue.global().async(group: group) {
                while finished.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
                    if let kb = Self.vmHWM(pid) { peak.value = max(peak.value, kb) }
                }
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if p.isRunning { timedOut.value = true; kill(pid, SIGKILL) }
        }
        p.waitUntilExit()
        finished.signal()
        group.wait()
        let r = Run(out: String(decoding: o.value, as: UTF8.self), err: String(decoding: e.value, as: UTF8.self),
                    status: p.terminationStatus, reason: p.terminationReason, timedOut: timedOut.value, peakRSSkB: peak.value)
        XCTAssertFalse(r.timedOut, "ssmspeech \(args.joined(separator: " ")) hung (killed after \(timeout) s)")
        if !mayBeKilled { XCTAssertEqual(r.reason, .exit, "ssmspeech \(args.joined(separator: " ")) died of signal \(r.status)") }
        return r
    }

    static func vmHWM(_ pid: pid_t) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    // MARK: - Assertions

    /// Exactly one line on stderr, `error: …`, containing every string of `naming`.
    func assertOneErrorLine(_ r: Run, naming: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.errorLines.count, 1, "stderr: \(r.err)", file: file, line: line)
        XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.hasSuffix("\n"), r.err, file: file, line: line)
        for s in naming { XCTAssertTrue(r.err.contains(s), "'\(s)' not in: \(r.err)", file: file, line: line) }
    }

    /// `transcribe BAD… good.wav`: status 1, one error line per bad file (in argument order, naming it and
    /// the reason), and stdout holds the good file's result and nothing else.
    @discardableResult
    func assertFilesFail(_ bad: [(path: String, reason: String)], file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let r = try run(["transcribe", "--model", Self.model, "--format", "tsv"] + bad.map(\.path) + [Self.good])
        XCTAssertEqual(r.status, 1, "exit status", file: file, line: line)
        XCTAssertEqual(r.out, Self.goodLine, "stdout holds the good file's line only", file: file, line: line)
        let lines = r.errorLines
        XCTAssertEqual(lines.count, bad.count, "one error line per bad file: \(r.err)", file: file, line: line)
        for (l, b) in zip(lines, bad) {
            XCTAssertTrue(l.hasPrefix("error: "), String(l), file: file, line: line)
            XCTAssertTrue(l.contains(b.path), "'\(l)' does not name \(b.path)", file: file, line: line)
            XCTAssertTrue(b.reason.isEmpty || l.contains(b.reason), "'\(l)' does not say '\(b.reason)'", file: file, line: line)
        }
        return r
    }

    func jsonObjects(_ s: String) throws -> [[String: Any]] {
        try s.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    // MARK: - Inputs

    static func makeTinyModel(in dir: URL) throws -> String {
        let c = EncoderConfig(mixer: .mamba, dModel: 16, layers: 1, norm: .rmsnorm, subsampleStrides: [3, 1],
                              mamba: .init(dState: 4, dConv: 4, expand: 2, dtRank: 1), vocab: ["<blank>", " ", "a", "b", "c"])
        return try RandomWeights.writeModelFolder(c, seed: 11, blankBias: 0.5, at: dir.appendingPathComponent("tiny-model"))
    }

    static func speechLike(seconds: Double, rate: Int, seed: UInt64 = 1) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<Int(seconds * Double(rate))).map { i in
            0.3 * sinf(Float(i) * 0.013) * (1 + sinf(Float(i) * 0.0007)) / 2 + 0.05 * rng.normal()
        }
    }

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// A RIFF/WAVE header written by hand: every field may lie. `dataBytes` is the data chunk's declared
    /// size, `riffSize` the RIFF chunk's (default: consistent with `dataBytes`), `fmtExtra` bytes after
    /// the 16-byte `fmt ` body (cbSize and codec data for non-PCM tags).
    static func riffHeader(tag: UInt16 = 1, channels: UInt16 = 1, rate: UInt32 = 16_000, bits: UInt16 = 16,
                           dataBytes: UInt32, riffSize: UInt32? = nil, fmtExtra: [UInt8] = []) -> [UInt8] {
        let blockAlign = UInt32(channels) * UInt32(bits) / 8
        let fmt = le16(tag) + le16(channels) + le32(rate) + le32(rate &* blockAlign) + le16(UInt16(truncatingIfNeeded: blockAlign))
            + le16(bits) + fmtExtra
        let body = Array("WAVE".utf8) + Array("fmt ".utf8) + le32(UInt32(fmt.count)) + fmt + Array("data".utf8) + le32(dataBytes)
        let riff = riffSize ?? UInt32(truncatingIfNeeded: body.count + Int(dataBytes))
        return Array("RIFF".utf8) + le32(riff) + body
    }

    static func pcm16(_ x: [Float]) -> [UInt8] {
        x.flatMap { le16(UInt16(bitPattern: Int16(max(-32768, min(32767, ($0 * 32768).rounded()))))) }
    }

    static func wav(pcm16 x: [Float], rate: Int) -> [UInt8] {
        let d = pcm16(x)
        return riffHeader(rate: UInt32(rate), dataBytes: UInt32(d.count)) + d
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = tmp.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The body of the good file (its 16-bit samples, no header).
    var goodPCM: [UInt8] { Array(Self.goodBytes[44...]) }

    // MARK: - Files

    func testMissingPath() throws {
        let missing = tmp.appendingPathComponent("missing.wav").path
        try assertFilesFail([(missing, "No such file or directory")])
    }

    func testDirectory() throws {
        try assertFilesFail([(tmp.path, "is a directory")])
    }

    func testEmptyFile() throws {
        try assertFilesFail([(try write("empty.wav", []), "Format not recognised")])
    }

    /// A header cut after the RIFF id, inside the RIFF size, after WAVE, inside `fmt `, before `data`:
    /// one error each, the good file still transcribed. Cut inside the data chunk's size field (43 of
    /// 44 bytes), libsndfile reads a file of no samples: an empty transcript, exit 0.
    func testTruncatedRIFFHeader() throws {
        let cuts = [(4, "Format not recognised"), (6, "Format not recognised"), (12, "No 'data' chunk"),
                    (20, "Malformed 'fmt ' chunk"), (30, "No 'data' chunk"), (36, "No 'data' chunk")]
        try assertFilesFail(try cuts.map { (try write("cut\($0.0).wav", Array(Self.goodBytes[..<$0.0])), $0.1) })
        let noSamples = try write("cut43.wav", Array(Self.goodBytes[..<43]))
        let r = try run(["transcribe", "--model", Self.model, "--format", "json", noSamples])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        let o = try jsonObjects(r.out)
        XCTAssertEqual(o.first?["text"] as? String, "")
        XCTAssertEqual(o.first?["duration"] as? Double, 0)
    }

    /// RIFF and data sizes far larger than the file: the samples that are there are transcribed (the
    /// same text as the good file with the same samples) and the duration is what the file holds.
    func testHeaderSizesLargerThanFile() throws {
        try assertTruncatedDataIsTranscribed(riffHeader: Self.riffHeader(dataBytes: 10_000_000), name: "big-sizes.wav")
    }

    /// A data chunk claiming 0xFFFFFFFF bytes (4 GB), as streaming writers leave it: same as above.
    func testDataChunkClaiming4GB() throws {
        try assertTruncatedDataIsTranscribed(riffHeader: Self.riffHeader(dataBytes: 0xFFFF_FFFF, riffSize: 0xFFFF_FFFF),
                                             name: "data-4gb.wav")
    }

    func assertTruncatedDataIsTranscribed(riffHeader: [UInt8], name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(name, riffHeader + goodPCM)
        let r = try run(["transcribe", "--model", Self.model, "--format", "json", path, Self.good])
        XCTAssertEqual(r.status, 0, r.err, file: file, line: line)
        XCTAssertEqual(r.err, "", file: file, line: line)
        let objs = try jsonObjects(r.out)
        XCTAssertEqual(objs.count, 2, file: file, line: line)
        guard objs.count == 2 else { return }
        XCTAssertEqual(objs[0]["duration"] as? Double ?? -1, 1, accuracy: 0.001, file: file, line: line)
        XCTAssertEqual(objs[0]["text"] as? String, objs[1]["text"] as? String, file: file, line: line)
    }

    func testZeroChannels() throws {
        try assertFilesFail([(try write("ch0.wav", Self.riffHeader(channels: 0, dataBytes: UInt32(goodPCM.count)) + goodPCM),
                              "unsupported channel count 0")])
    }

    func test65535Channels() throws {
        try assertFilesFail([(try write("ch65535.wav", Self.riffHeader(channels: 65_535, dataBytes: UInt32(goodPCM.count)) + goodPCM),
                              "unsupported channel count 65535")])
    }

    /// 0 Hz, 1 Hz and 10 MHz: each an error that names the rate.
    func testSampleRates0And1HzAnd10MHz() throws {
        let bad = try [(0, "0 Hz"), (1, "1 Hz"), (10_000_000, "10000000 Hz")].map { rate, reason in
            (try write("rate\(rate).wav", Self.riffHeader(rate: UInt32(rate), dataBytes: UInt32(goodPCM.count)) + goodPCM),
             "unsupported sample rate \(reason)")
        }
        try assertFilesFail(bad)
    }

    /// WAV format tags libsndfile does not decode: MPEG layer 3 (0x0055) and an unassigned tag.
    func testUnsupportedCodecs() throws {
        let cb0 = Self.le16(0)
        let bad = try [(UInt16(0x0055), "mp3"), (0x7777, "tag7777")].map { tag, name in
            (try write("\(name).wav", Self.riffHeader(tag: tag, dataBytes: UInt32(goodPCM.count), fmtExtra: cb0) + goodPCM), "")
        }
        try assertFilesFail(bad)
    }

    func testRandomBytesNamedWav() throws {
        var rng = SeededRandom(seed: 9)
        let bytes = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try assertFilesFail([(try write("random.wav", bytes), "Format not recognised")])
    }

    /// Float samples with NaN and ±Inf: transcribed as if those samples were 0 (exit 0, no stderr).
    func testNaNAndInfFloatSamples() throws {
        var clean = Self.speechLike(seconds: 1, rate: 16_000)
        var dirty = clean
        for i in 4_000..<6_000 { dirty[i] = [Float.nan, .infinity, -.infinity][i % 3]; clean[i] = 0 }
        func f32(_ x: [Float]) -> [UInt8] {
            Self.riffHeader(tag: 3, bits: 32, dataBytes: UInt32(4 * x.count)) + x.flatMap { Self.le32($0.bitPattern) }
        }
        let d = try write("nan.wav", f32(dirty)), c = try write("zeroed.wav", f32(clean))
        let r = try run(["transcribe", "--model", Self.model, "--format", "json", d, c])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        let objs = try jsonObjects(r.out)
        XCTAssertEqual(objs.count, 2)
        XCTAssertEqual(objs.first?["text"] as? String, objs.last?["text"] as? String)
        XCTAssertFalse((objs.first?["text"] as? String ?? "").isEmpty)
        XCTAssertEqual(objs.first?["duration"] as? Double ?? -1, 1, accuracy: 0.001)
    }

    /// A full-scale square wave (every sample ±32767/−32768): a transcript, exit 0.
    func testFullScaleClipping() throws {
        let x = (0..<16_000).map { ($0 / 20) % 2 == 0 ? Float(1) : -1 }
        let path = try write("clipped.wav", Self.wav(pcm16: x, rate: 16_000))
        let r = try run(["transcribe", "--model", Self.model, "--format", "tsv", path, Self.good])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        let rows = r.out.split(separator: "\n")
        XCTAssertEqual(rows.count, 2)
        XCTAssertTrue(rows.first?.hasPrefix(path + "\t") ?? false, r.out)
        XCTAssertEqual(String(rows.last ?? "") + "\n", Self.goodLine)
    }

    /// Digital silence with the shipped model and its default (beam) decoder: an empty transcript.
    /// 30 s at 8 kHz: a long stretch without speech must not let the beam search settle on a symbol
    /// (it used to print "e": the sum over positions of one low-probability symbol outgrew all-blank).
    func testPureSilenceIsEmpty() throws {
        let shipped = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/models/mamba-30ms").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: shipped), "no shipped model")
        let short = try write("silence-16k.wav", Self.riffHeader(dataBytes: 64_000) + [UInt8](repeating: 0, count: 64_000))
        let long = try write("silence-8k-30s.wav", Self.riffHeader(rate: 8_000, dataBytes: 480_000) + [UInt8](repeating: 0, count: 480_000))
        for decoder in ["beam", "greedy"] {
            let r = try run(["transcribe", "--model", shipped, "--decoder", decoder, "--format", "json", short, long])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(r.err, "")
            let objs = try jsonObjects(r.out)
            XCTAssertEqual(objs.map { $0["text"] as? String }, ["", ""], decoder)
            XCTAssertEqual(objs.map { ($0["words"] as? [Any])?.count }, [0, 0], decoder)
            XCTAssertEqual(objs.last?["duration"] as? Double ?? -1, 30, accuracy: 0.001)
        }
    }

    /// A WAV header valid for 3 hours of 8 kHz 16-bit mono over a sparse file (165 MB of zeros, no disk
    /// blocks). Decoding 3 h takes minutes in a debug build, so: the 3-hour file runs for 20 s and its
    /// peak RSS must stay far below what holding it would take (3 h as Float at 8 kHz is 330 MB, at
    /// 16 kHz 660 MB); then a 10-minute sparse file runs to its end, with the same RSS bound, and gives a
    /// result of the right duration.
    func testThreeHourFileIsStreamedInBoundedMemory() throws {
        func sparse(_ name: String, seconds: Int) throws -> String {
            let bytes = seconds * 8_000 * 2
            let path = try write(name, Self.riffHeader(rate: 8_000, dataBytes: UInt32(bytes)))
            XCTAssertEqual(truncate(path, off_t(44 + bytes)), 0)
            return path
        }
        // Under AddressSanitizer (quarantine, shadow memory) or ThreadSanitizer resident memory means
        // little: Scripts/sanitizers.sh sets their options, and then only crashes and results count.
        let env = ProcessInfo.processInfo.environment
        let sanitized = env["ASAN_OPTIONS"] != nil || env["TSAN_OPTIONS"] != nil
        let limitKB = sanitized ? Int.max : 150 * 1024
        let long = try sparse("three-hours.wav", seconds: 3 * 3_600)
        let r = try run(["transcribe", "--model", Self.model, "--format", "json", long], sampleRSS: true, mayBeKilled: true, during: { pid in
            for _ in 0..<200 { // 20 s
                usleep(100_000)
                if kill(pid, 0) != 0 { return }
            }
            kill(pid, SIGKILL)
        })
        XCTAssertGreaterThan(r.peakRSSkB, 0)
        XCTAssertLessThan(r.peakRSSkB, limitKB, "peak RSS \(r.peakRSSkB) kB on the 3-hour file")
        if r.reason == .exit { // finished within 20 s (a fast machine): then it must be right
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(try jsonObjects(r.out).first?["duration"] as? Double ?? -1, 10_800, accuracy: 0.001)
        }
        let tenMinutes = try sparse("ten-minutes.wav", seconds: 600)
        let t = try run(["transcribe", "--model", Self.model, "--format", "json", tenMinutes], timeout: 300, sampleRSS: true)
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertEqual(try jsonObjects(t.out).first?["duration"] as? Double ?? -1, 600, accuracy: 0.001)
        XCTAssertGreaterThan(t.peakRSSkB, 0)
        XCTAssertLessThan(t.peakRSSkB, limitKB, "peak RSS \(t.peakRSSkB) kB on the 10-minute file")
        print("peak RSS: 3-hour file (first 20 s) \(r.peakRSSkB / 1024) MB, 10-minute file \(t.peakRSSkB / 1024) MB")
    }

    /// Mode 000: an error naming the file. Root reads it anyway, so the test skips as root.
    func testUnreadablePermissions() throws {
        try XCTSkipIf(geteuid() == 0, "running as root: chmod 000 does not stop root from reading")
        let path = try write("locked.wav", Self.goodBytes)
        XCTAssertEqual(chmod(path, 0), 0)
        defer { chmod(path, 0o644) }
        try assertFilesFail([(path, "Permission denied")])
    }

    // MARK: - Models

    static var shippedModel: String {
        Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/models/mamba-30ms").path
    }

    /// A copy of the shipped model whose `model.safetensors` (and optionally `config.json`) is replaced.
    func corruptModel(_ name: String, weights: [UInt8]? = nil, config: ((inout [String: Any]) -> Void)? = nil) throws -> String {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.shippedModel), "no shipped model")
        let dir = try copyFolder(Self.shippedModel, as: name, config: config)
        if let weights { try Data(weights).write(to: URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors")) }
        return dir
    }

    /// Sends `sig` to `pid` and waits up to `seconds` for the process to be gone; true if it is.
    @discardableResult
    static func sendSignal(_ pid: pid_t, _ sig: Int32, waitingUpTo seconds: Double) -> Bool {
        kill(pid, sig)
        let deadline = Date().addingTimeInterval(seconds)
        while kill(pid, 0) == 0 && Date() < deadline { usleep(50_000) }
        return kill(pid, 0) != 0
    }

    /// A copy of the model or voice folder `source` under `tmp/name`, its `config.json` changed by `config`.
    func copyFolder(_ source: String, as name: String, config: ((inout [String: Any]) -> Void)? = nil) throws -> String {
        let dir = tmp.appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: source, toPath: dir.path)
        if let config {
            let url = dir.appendingPathComponent("config.json")
            var c = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            config(&c)
            try JSONSerialization.data(withJSONObject: c).write(to: url)
        }
        return dir.path
    }

    var shippedWeights: [UInt8] {
        get throws {
            try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.shippedModel), "no shipped model")
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.shippedModel + "/model.safetensors")))
        }
    }

    /// Header JSON of a safetensors image, and the data section.
    func splitSafetensors(_ b: [UInt8]) throws -> ([String: Any], [UInt8]) {
        let n = b[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: Data(b[8..<(8 + n)])) as! [String: Any]
        return (header, Array(b[(8 + n)...]))
    }

    func joinSafetensors(_ header: [String: Any], _ data: [UInt8]) throws -> [UInt8] {
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(0x20) }
        return (0..<8).map { UInt8((json.count >> (8 * $0)) & 0xFF) } + json + data
    }

    /// Loads `model` for `transcribe good.wav`: non-zero status, nothing on stdout, one error line with `naming`.
    @discardableResult
    func assertModelFails(_ model: String, naming: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let r = try run(["transcribe", "--model", model, Self.good])
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertEqual(r.out, "", file: file, line: line)
        assertOneErrorLine(r, naming: naming, file: file, line: line)
        return r
    }

    /// Cut in the middle of the data section: the first tensor past the cut is named.
    func testTruncatedSafetensors() throws {
        let w = try shippedWeights
        let model = try corruptModel("truncated", weights: Array(w[..<(w.count / 2)]))
        try assertModelFails(model, naming: [model + "/model.safetensors", "tensor '", "lies outside the file"])
        // Cut inside the header, and a file shorter than the length prefix.
        let inHeader = try corruptModel("cut-header", weights: Array(w[..<100]))
        try assertModelFails(inHeader, naming: [inHeader + "/model.safetensors", "exceeds file size 100"])
        let tiny = try corruptModel("tiny", weights: Array(w[..<5]))
        try assertModelFails(tiny, naming: [tiny + "/model.safetensors", "shorter than the 8-byte length prefix"])
    }

    func testHeaderLengthBeyondFile() throws {
        var w = try shippedWeights
        w.replaceSubrange(0..<8, with: (0..<8).map { UInt8(((w.count * 10) >> (8 * $0)) & 0xFF) })
        let model = try corruptModel("header-length", weights: w)
        let r = try assertModelFails(model, naming: [model + "/model.safetensors", "header length \(w.count * 10) exceeds file size \(w.count)"])
        XCTAssertEqual(r.err.components(separatedBy: model + "/model.safetensors").count, 2, "the path once: \(r.err)")
    }

    /// An integer dtype of the same width (I32), and a narrower float whose byte span no longer matches.
    func testWrongDType() throws {
        let (header, data) = try splitSafetensors(try shippedWeights)
        for (dtype, reason) in [("I32", "unsupported dtype I32"), ("F16", "data_offsets span")] {
            var h = header
            var entry = h["ctc_head.weight"] as! [String: Any]
            entry["dtype"] = dtype
            h["ctc_head.weight"] = entry
            let model = try corruptModel("dtype-\(dtype)", weights: try joinSafetensors(h, data))
            try assertModelFails(model, naming: ["'ctc_head.weight'", reason])
        }
    }

    func testWrongShape() throws {
        var (h, data) = try splitSafetensors(try shippedWeights)
        var entry = h["ctc_head.weight"] as! [String: Any]
        entry["shape"] = Array((entry["shape"] as! [Int]).reversed())
        h["ctc_head.weight"] = entry
        let model = try corruptModel("shape", weights: try joinSafetensors(h, data))
        try assertModelFails(model, naming: ["tensor 'ctc_head.weight' has shape [256, 29], expected [29, 256]"])
    }

    func testMissingTensor() throws {
        var (h, data) = try splitSafetensors(try shippedWeights)
        h["norm_f.weight"] = nil
        let model = try corruptModel("missing", weights: try joinSafetensors(h, data))
        try assertModelFails(model, naming: ["missing tensor 'norm_f.weight'"])
    }

    /// config.json disagreeing with the weights: wider model, one layer more, one layer less, a shorter vocabulary.
    func testConfigContradictsWeights() throws {
        let wider = try corruptModel("wider") { $0["d_model"] = 264 }
        try assertModelFails(wider, naming: ["tensor 'subsample.conv1.weight' has shape [256, 80, 3], expected [264, 80, 3]"])
        let deeper = try corruptModel("deeper") { $0["n_layers"] = 7 }
        try assertModelFails(deeper, naming: ["missing tensor 'layers.6."])
        let shallower = try corruptModel("shallower") { $0["n_layers"] = 5 }
        try assertModelFails(shallower, naming: ["unexpected tensors not used by the model: layers.5."])
        let vocab = try corruptModel("vocab") { $0["vocab"] = Array(($0["vocab"] as! [String]).dropLast()) }
        try assertModelFails(vocab, naming: ["tensor 'ctc_head.weight' has shape [29, 256], expected [28, 256]"])
        let garbage = try corruptModel("garbage")
        try "{\"d_model\": ".write(toFile: garbage + "/config.json", atomically: true, encoding: .utf8)
        try assertModelFails(garbage, naming: [garbage + "/config.json", "not valid JSON"])
    }

    // MARK: - stdin

    func writeAll(_ bytes: ArraySlice<UInt8>, to fd: Int32) {
        var off = bytes.startIndex
        while off < bytes.endIndex {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            off += n
        }
    }

    var goodText: String { Self.goodText }

    func stream(_ extra: [String] = [], timeout: Double = 120, feed: @escaping (Int32) -> Void, during: ((pid_t) -> Void)? = nil) throws -> Run {
        try run(["stream", "--model", Self.model, "--endpoint-seconds", "0"] + extra, timeout: timeout, feed: feed, during: during)
    }

    /// Raw PCM ending inside a sample (s16le: one byte over; f32le: three): the partial sample is
    /// dropped and the rest transcribed.
    func testStdinEOFInsideASample() throws {
        let s16 = goodPCM + [0x7F]
        let r = try stream(feed: { self.writeAll(s16[...], to: $0) })
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(r.out, goodText)
        let x = Self.speechLike(seconds: 1, rate: 16_000)
        let f32: [UInt8] = x.flatMap { Self.le32($0.bitPattern) } + [1, 2, 3]
        let f = try stream(["--encoding", "f32le"], feed: { self.writeAll(f32[...], to: $0) })
        XCTAssertEqual(f.status, 0, f.err)
        XCTAssertEqual(f.err, "")
        XCTAssertEqual(f.out.split(separator: "\n").count, 1, f.out)
    }

    /// A WAV header cut anywhere before its data chunk: one error naming <stdin>, nothing on stdout.
    func testStdinEOFInsideWAVHeader() throws {
        for cut in [4, 11, 20, 36, 43] {
            let r = try stream(["--json"], feed: { self.writeAll(Self.goodBytes[..<cut], to: $0) })
            XCTAssertEqual(r.status, 1, "cut \(cut)")
            XCTAssertEqual(r.out, "", "cut \(cut)")
            assertOneErrorLine(r, naming: ["<stdin>", "stream ended after \(cut) bytes, inside the header"])
        }
    }

    /// The producer stalls for 3 s twice (in the header, then mid-audio): the same text as transcribe.
    func testStdinProducerStalls() throws {
        let bytes = Self.goodBytes!
        let r = try stream(feed: { fd in
            self.writeAll(bytes[..<20], to: fd)
            sleep(3)
            self.writeAll(bytes[20..<16_000], to: fd)
            sleep(3)
            self.writeAll(bytes[16_000...], to: fd)
        })
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(r.out, goodText)
    }

    /// 64 s of audio (2 MB) arriving in two 1 MB writes: the same text as transcribe of the same WAV
    /// (three finals: the 30 s utterance limit cuts; `transcribe` joins them on one line).
    func testStdinMegabyteBursts() throws {
        let bytes = Self.wav(pcm16: Self.speechLike(seconds: 64, rate: 16_000, seed: 5), rate: 16_000)
        let path = try write("long.wav", bytes)
        let t = try run(["transcribe", "--model", Self.model, "--endpoint-seconds", "0", path])
        XCTAssertEqual(t.status, 0, t.err)
        let half = bytes.count / 2
        let r = try stream(feed: { fd in
            self.writeAll(bytes[..<half], to: fd)
            usleep(200_000)
            self.writeAll(bytes[half...], to: fd)
        })
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(r.out.split(separator: "\n").count, 3, r.out)
        XCTAssertEqual(r.out.split(separator: "\n").joined(separator: " ") + "\n", t.out)
    }

    /// Every byte of the WAV (header included) in its own write(2).
    func testStdinOneByteAtATime() throws {
        let bytes = Self.goodBytes!
        let r = try stream(feed: { fd in for i in bytes.indices { self.writeAll(bytes[i...i], to: fd) } })
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(r.out, goodText)
    }

    /// `transcribe a b c … | head -1`: the first line comes out, then the program ends quietly, status 0.
    func testTranscribeStdoutClosedEarly() throws {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["transcribe", "--model", Self.model] + Array(repeating: Self.good, count: 6)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var first = Data()
        while !first.contains(0x0A) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            first.append(d)
        }
        try out.fileHandleForReading.close()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(String(decoding: first.prefix { $0 != 0x0A }, as: UTF8.self) + "\n",
                       String(Self.goodLine.dropFirst(Self.good.count + 1)))
        XCTAssertEqual(p.terminationReason, .exit, "killed by signal \(p.terminationStatus)")
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: e, as: UTF8.self), "")
    }

    /// SIGTERM while the utterance is open (stdin still open, audio still coming): the final result is
    /// flushed and the exit status is 0. (SIGINT: CommandLineTests.testStreamInterruptFlushesFinal.)
    func testStdinSIGTERMMidUtteranceFlushesFinal() throws {
        let bytes = Self.wav(pcm16: Self.speechLike(seconds: 8, rate: 16_000), rate: 16_000)
        let wrote = DispatchSemaphore(value: 0), exited = DispatchSemaphore(value: 0), endedBySignal = Shared(false)
        let r = try stream(["--json"], feed: { fd in
            self.writeAll(bytes[..<(bytes.count / 2)], to: fd)
            wrote.signal()
            _ = exited.wait(timeout: .now() + 90) // stdin stays open until the process is gone
        }, during: { pid in
            wrote.wait()
            sleep(2)
            endedBySignal.value = Self.sendSignal(pid, SIGTERM, waitingUpTo: 60)
            exited.signal()
        })
        XCTAssertTrue(endedBySignal.value, "still running 60 s after SIGTERM (stdin open)")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        let events = try jsonObjects(r.out)
        XCTAssertEqual(events.last?["type"] as? String, "final", r.out)
        XCTAssertEqual(events.filter { $0["type"] as? String == "final" }.count, 1)
        XCTAssertFalse((events.last?["text"] as? String ?? "").isEmpty)
        XCTAssertGreaterThan(events.last?["end"] as? Double ?? 0, 1, "the final covers the audio received")
    }

    /// SIGPIPE: a stdout whose reader is gone before the first write ends `stream` quietly with status 0
    /// (not death by SIGPIPE), and a SIGPIPE sent by hand mid-stream is ignored: the whole result comes out.
    func testSIGPIPE() throws {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["stream", "--model", Self.model, "--json"]
        let out = Pipe(), err = Pipe()
        try out.fileHandleForReading.close()
        p.standardInput = FileHandle(forReadingAtPath: Self.good)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        try out.fileHandleForWriting.close()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "killed by signal \(p.terminationStatus)")
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: e, as: UTF8.self), "")

        let bytes = Self.goodBytes!
        let r = try stream(feed: { fd in
            self.writeAll(bytes[..<16_000], to: fd)
            usleep(500_000)
            self.writeAll(bytes[16_000...], to: fd)
        }, during: { pid in
            usleep(250_000)
            kill(pid, SIGPIPE)
        })
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(r.out, goodText)
    }
}
