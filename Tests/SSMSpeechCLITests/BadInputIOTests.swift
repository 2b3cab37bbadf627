// The process around the work, through the built `ssmspeech` binary (issue: reliability, classes 5, 6,
// 7, 10, 11, 12, 14 and the parsing messages of 15): unwritable stderr and stdout, an address-space
// limit, file names that are not UTF-8 or hold a tab or newline, an output file when synthesis fails or
// is interrupted, signals while the model loads, the progress line on a terminal, and arguments that
// look like options. Each case ends in a correct result or one `error: …` line with a non-zero status:
// never a trap, an abort, a hang, or silent loss with status 0.

import Foundation
import SSMTestSupport
import XCTest

extension BadInputCLITests {
    // MARK: - Helpers

    /// Runs `script` with /bin/sh. It sees $SSM (the binary), $MODEL (the tiny model), $GOOD (the good
    /// file) and $DIR (this test's directory, also the working directory); `exec "$SSM" …` makes the
    /// process ssmspeech itself, so its status and signal are the script's.
    func sh(_ script: String, env extra: [String: String] = [:], timeout: Double = 120, mayBeKilled: Bool = false,
            file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = nil
        env["SSM"] = Self.binary.path
        env["MODEL"] = Self.model
        env["GOOD"] = Self.good
        env["DIR"] = tmp.path
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.currentDirectoryURL = tmp
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        let o = Shared(Data()), e = Shared(Data()), timedOut = Shared(false)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { o.value = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { e.value = err.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if p.isRunning { timedOut.value = true; kill(pid, SIGKILL) }
        }
        p.waitUntilExit()
        group.wait()
        let r = Run(out: String(decoding: o.value, as: UTF8.self), err: String(decoding: e.value, as: UTF8.self),
                    status: p.terminationStatus, reason: p.terminationReason, timedOut: timedOut.value, peakRSSkB: 0)
        XCTAssertFalse(r.timedOut, "\(script) hung (killed after \(timeout) s)", file: file, line: line)
        if !mayBeKilled {
            XCTAssertEqual(r.reason, .exit, "\(script) died of signal \(r.status); stderr: \(r.err.prefix(300))", file: file, line: line)
        }
        return r
    }

    /// The transcript column of the good file's tsv line (with its newline).
    var goodTSVText: String { String(Self.goodLine.dropFirst(Self.good.count)) }

    /// Waits (up to `seconds`) until process `pid` catches `sig` — ssmspeech's handlers are installed at
    /// the start of main, before the model loads.
    func waitUntilCatching(_ pid: pid_t, _ sig: Int32, seconds: Double = 2) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = s.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
               let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16), mask & (1 << UInt64(sig - 1)) != 0 {
                return
            }
            usleep(5_000)
        }
    }

    var shippedModel: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/models/mamba-30ms").path
    }

    // MARK: - 5. Unwritable stderr

    /// `2>/dev/full` and `2>&-`: the error path must not trap (FileHandle.write did); the status stays 1 and
    /// the good file's result is still printed.
    func testUnwritableStderrKeepsTheExitStatus() throws {
        for redirect in ["2>/dev/full", "2>&-"] {
            let r = try sh("exec \"$SSM\" transcribe --model \"$MODEL\" --format tsv \"$DIR/missing.wav\" \"$GOOD\" \(redirect)")
            XCTAssertEqual(r.reason, .exit, redirect)
            XCTAssertEqual(r.status, 1, redirect)
            XCTAssertEqual(r.out, Self.goodLine, redirect)
        }
        // A closed stderr is not reused for a file opened later: the WAV written with -o stays a WAV.
        let r = try sh("exec \"$SSM\" synthesize --voice \"$VOICE\" -o \"$DIR/x.wav\" 'Hello.' 2>&-", env: ["VOICE": Fixtures.path("tts_tiny")])
        XCTAssertEqual(r.status, 0)
        let wav = try Data(contentsOf: tmp.appendingPathComponent("x.wav"))
        XCTAssertEqual(wav.prefix(4), Data("RIFF".utf8))
    }

    // MARK: - 6. Address-space limit

    /// Under `ulimit -v`: too little gives one `error: not enough memory` line and status 1 before
    /// anything loads (it was a trap in an allocation, a 100-line crash report, status 134); enough runs
    /// normally (stream used to wait forever for a worker thread at 200–300 MB, transcribe to spin in
    /// OpenBLAS's thread shutdown at 200 MB). OPENBLAS_NUM_THREADS=1 here: without it OpenBLAS's own
    /// constructor, which runs before main, starts one thread per core (8 MB of stack and 128 MB of
    /// buffer each), which on a many-core machine fails under 200 MB before ssmspeech can do anything.
    func testAddressSpaceLimit() throws {
        let env = ProcessInfo.processInfo.environment
        if env["ASAN_OPTIONS"] != nil || env["TSAN_OPTIONS"] != nil {
            throw XCTSkip("a sanitizer's shadow memory needs terabytes of address space")
        }
        let one = ["OPENBLAS_NUM_THREADS": "1"]
        for command in ["transcribe --model \"$MODEL\" \"$GOOD\"", "stream --model \"$MODEL\" < \"$GOOD\""] {
            let r = try sh("ulimit -v 150000; exec \"$SSM\" \(command)", env: one, timeout: 60)
            XCTAssertEqual(r.status, 1, command)
            XCTAssertEqual(r.out, "", command)
            assertOneErrorLine(r, naming: ["not enough memory", "ulimit -v", "150000 kB"])
        }
        let t = try sh("ulimit -v 300000; exec \"$SSM\" transcribe --model \"$MODEL\" --format tsv \"$GOOD\"", env: one, timeout: 60)
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertEqual(t.out, Self.goodLine)
        let s = try sh("ulimit -v 300000; exec \"$SSM\" stream --model \"$MODEL\" --endpoint-seconds 0 < \"$GOOD\"", env: one, timeout: 60)
        XCTAssertEqual(s.status, 0, s.err)
        XCTAssertEqual(s.err, "")
        XCTAssertEqual(s.out, Self.goodText)
    }

    /// OpenBLAS's pool is sized to what is asked: the process runs with OPENBLAS_NUM_THREADS=1 (set before
    /// the library starts, by starting itself again) unless the user set it (`--threads N` grows the pool).
    /// (The child is ended with SIGKILL: what is checked is its environment, and a SIGTERM is never
    /// delivered under ThreadSanitizer, which defers signals.)
    func testOpenBLASPoolStartsAtOneThread() throws {
        for (setting, expected) in [("", "OPENBLAS_NUM_THREADS=1\n"), ("OPENBLAS_NUM_THREADS=3", "OPENBLAS_NUM_THREADS=3\n")] {
            let r = try sh("""
                \(setting) "$SSM" stream --model "$MODEL" < /dev/zero > /dev/null & pid=$!
                sleep 1; tr '\\0' '\\n' < /proc/$pid/environ | grep '^OPENBLAS_NUM_THREADS='; kill -KILL $pid; wait $pid || true
                """)
            XCTAssertEqual(r.out, expected, r.err)
            XCTAssertEqual(r.status, 0, r.err)
        }
    }

    // MARK: - 7. Full stdout

    /// `> /dev/full` (ENOSPC) is not a closed pipe: one error line and status 1, for every command that
    /// prints (it was status 0 with nothing written and nothing said).
    func testFullStdoutIsAnError() throws {
        for command in ["transcribe --model \"$MODEL\" \"$GOOD\"", "stream --model \"$MODEL\" < \"$GOOD\"",
                        "bench --model \"$MODEL\" --audio \"$GOOD\"", "--help"] {
            let r = try sh("exec \"$SSM\" \(command) > /dev/full", timeout: 120)
            XCTAssertEqual(r.status, 1, command)
            assertOneErrorLine(r, naming: ["cannot write '<stdout>'", "No space left on device"])
        }
        // A closed stdout (EBADF) is an error too; a reader that went away (EPIPE) stays quiet (testSIGPIPE).
        let closed = try sh("exec \"$SSM\" transcribe --model \"$MODEL\" \"$GOOD\" >&-")
        XCTAssertEqual(closed.status, 1)
        assertOneErrorLine(closed, naming: ["cannot write '<stdout>'", "Bad file descriptor"])
    }

    // MARK: - 10. File names

    /// A name that is not UTF-8 is opened (it became U+FFFD and could not be) and shown with `\xHH`; a
    /// tab or newline in a name does not break `--format tsv` (escaped `\t`, `\n`), nor the one-line rule
    /// of an error line.
    func testFileNamesThatAreNotUTF8OrHoldTabsAndNewlines() throws {
        let dir = tmp.path
        try FileManager.default.copyItem(atPath: Self.good, toPath: dir + "/t\tab.wav")
        try FileManager.default.copyItem(atPath: Self.good, toPath: dir + "/n\nl.wav")
        let r = try sh("""
            cp "$GOOD" "$DIR/a$(printf '\\377')b.wav"
            exec "$SSM" transcribe --model "$MODEL" --format tsv "$DIR/a$(printf '\\377')b.wav" "$DIR/t\tab.wav" "$DIR/n
            l.wav" "$DIR/gone$(printf '\\376')
            .wav"
            """)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.out, dir + "/a\\xFFb.wav" + goodTSVText + dir + "/t\\tab.wav" + goodTSVText + dir + "/n\\nl.wav" + goodTSVText)
        assertOneErrorLine(r, naming: [dir + "/gone\\xFE\\n.wav", "No such file"])
        let cp = try sh("cp \"$GOOD\" \"$DIR/c$(printf '\\377').wav\"; exec \"$SSM\" transcribe --model \"$MODEL\" --format json \"$DIR/c$(printf '\\377').wav\"")
        XCTAssertEqual(cp.status, 0, cp.err)
        XCTAssertEqual(try jsonObjects(cp.out).first?["file"] as? String, dir + "/c\\xFF.wav")
    }

    // MARK: - 11. Output file of synthesize

    /// `synthesize -o f.wav '.'` fails with "nothing to speak" and leaves nothing behind (it left a 44-byte
    /// WAV); an existing f.wav is left as it was; SIGTERM mid-synthesis leaves neither f.wav nor a
    /// temporary file; success leaves exactly f.wav.
    func testSynthesizeLeavesNoFileWhenItFails() throws {
        let voice = Fixtures.path("tts_tiny")
        let out = tmp.appendingPathComponent("f.wav").path
        var r = try run(["synthesize", "--voice", voice, "-o", out, "."])
        XCTAssertEqual(r.status, 1)
        assertOneErrorLine(r, naming: ["nothing to speak"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [])

        try Data("old".utf8).write(to: URL(fileURLWithPath: out))
        r = try run(["synthesize", "--voice", voice, "-o", out, "🙂"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), Data("old".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["f.wav"])
        try FileManager.default.removeItem(atPath: out)

        // Lines on stdin, which stays open: SIGTERM while the file is being written.
        let line = Array(String(repeating: "The birch canoe slid on the smooth planks. ", count: 4).utf8) + [10]
        let wrote = DispatchSemaphore(value: 0), gone = DispatchSemaphore(value: 0)
        r = try run(["synthesize", "--voice", voice, "-o", out], mayBeKilled: true, feed: { fd in
            self.writeAll(line[...], to: fd)
            wrote.signal()
            _ = gone.wait(timeout: .now() + 60)
        }, during: { pid in
            wrote.wait()
            usleep(300_000)
            Self.sendSignal(pid, SIGTERM, waitingUpTo: 10)
            gone.signal()
        })
        XCTAssertEqual(r.reason, .uncaughtSignal, "ended by the signal")
        XCTAssertEqual(r.status, SIGTERM)
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "no f.wav, no temporary file")

        r = try run(["synthesize", "--voice", voice, "-o", out, "Hello."])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["f.wav"])
        XCTAssertGreaterThan(try Data(contentsOf: URL(fileURLWithPath: out)).count, 44)
    }

    // MARK: - 12. Signals

    /// SIGINT/SIGTERM while `stream` loads its model: exit 0, nothing printed (it was death by the
    /// signal, 130/143). SIGQUIT: ends at once, by the signal and without the Swift runtime's crash report
    /// (it printed a hundred lines and kept running). SIGINT on `transcribe`: ends by the signal (status
    /// 130 in the shell), nothing on stderr.
    func testSignalsWhileTheModelLoads() throws {
        let model = shippedModel // loads its 7 MB LM for seconds in a debug build
        func interrupt(_ args: [String], with sig: Int32) throws -> (Run, TimeInterval) {
            let start = Date()
            let gone = DispatchSemaphore(value: 0)
            let r = try run(args, timeout: 60, mayBeKilled: true, feed: { _ in
                _ = gone.wait(timeout: .now() + 60) // stdin stays open until the process is gone
            }, during: { pid in
                // the handler of the very signal sent (they are installed one after another; slow under ASan)
                self.waitUntilCatching(pid, sig, seconds: 20)
                usleep(100_000)
                Self.sendSignal(pid, sig, waitingUpTo: 30)
                gone.signal()
            })
            return (r, Date().timeIntervalSince(start))
        }
        for sig in [SIGINT, SIGTERM] {
            let (r, seconds) = try interrupt(["stream", "--model", model], with: sig)
            XCTAssertEqual(r.reason, .exit, "signal \(sig)")
            XCTAssertEqual(r.status, 0, "signal \(sig): \(r.err)")
            XCTAssertEqual(r.out, "")
            XCTAssertEqual(r.err, "")
            XCTAssertLessThan(seconds, 15, "ended by the signal, not by stdin closing")
        }
        for (args, sig) in [(["transcribe", "--model", model, Self.good!], SIGQUIT), (["stream", "--model", model], SIGQUIT),
                            (["transcribe", "--model", model, Self.good!], SIGINT)] {
            let (r, seconds) = try interrupt(args, with: sig)
            XCTAssertEqual(r.reason, .uncaughtSignal, "\(args[0]) \(sig)")
            XCTAssertEqual(r.status, sig, "\(args[0]) \(sig)")
            XCTAssertEqual(r.err, "", "\(args[0]) \(sig)")
            XCTAssertEqual(r.out, "", "\(args[0]) \(sig)")
            XCTAssertLessThan(seconds, 15, "\(args[0]) \(sig): promptly")
        }
    }

    // MARK: - 14. Progress line on a terminal

    /// On a terminal (a pseudo-terminal from script(1)) with several files, the progress line is cleared
    /// before every result and error line, so each starts at column 0 and nothing of the bar is left.
    func testProgressLineIsClearedBeforeResultsAndErrors() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("no script(1)") }
        let r = try sh("exec script -qfec '\"$SSM\" transcribe --model \"$MODEL\" --format tsv \"$GOOD\" \"$DIR/missing.wav\" \"$GOOD\"' /dev/null")
        XCTAssertEqual(r.status, 1, r.out)
        let screen = Self.render(r.out)
        XCTAssertEqual(screen.count, 3, "\(screen)")
        guard screen.count == 3 else { return }
        XCTAssertEqual(screen[0] + "\n", Self.goodLine)
        XCTAssertTrue(screen[1].hasPrefix("error: ") && screen[1].contains("missing.wav"), screen[1])
        XCTAssertEqual(screen[2] + "\n", Self.goodLine)
        XCTAssertTrue(r.out.contains("1/3"), "the progress line was shown: \(r.out.debugDescription)")
    }

    /// What a terminal shows for `s`: `\r` returns to column 0, `ESC [ K` erases to the end of the line,
    /// `\n` starts a new line; the last line if empty is dropped.
    static func render(_ s: String) -> [String] {
        var lines: [[Character]] = [[]], col = 0
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            switch c {
            case "\r": col = 0
            case "\n": lines.append([]); col = 0
            case "\r\n": lines.append([]); col = 0
            case "\u{1B}":
                if chars.first == "[", chars.dropFirst().first == "K" {
                    chars = chars.dropFirst(2)
                    lines[lines.count - 1].removeSubrange(min(col, lines[lines.count - 1].count)...)
                }
            default:
                if col < lines[lines.count - 1].count { lines[lines.count - 1][col] = c } else { lines[lines.count - 1].append(c) }
                col += 1
            }
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { String($0) }
    }

    // MARK: - 15. Arguments that look like options

    /// Negative numbers are values, range-checked with a clear message (it was "Missing value"); a file
    /// name that starts with '-' is an error that says how to give it (`transcribe -dash.wav` printed the
    /// help and exited 0: -d -a -s -h …), and works after `--` or as ./-dash.wav.
    func testArgumentsThatLookLikeOptions() throws {
        for args in [["synthesize", "--rate", "-5", "Hello."], ["transcribe", "--jobs", "-2", Self.good!],
                     ["stream", "--chunk-ms", "-40"]] {
            let r = try run(args)
            XCTAssertEqual(r.status, 64, "\(args)")
            XCTAssertEqual(r.out, "")
            assertOneErrorLine(r, naming: [args[1]])
            XCTAssertFalse(r.err.contains("Missing value"), r.err)
        }
        try FileManager.default.copyItem(atPath: Self.good, toPath: tmp.path + "/-dash.wav")
        let dash = try sh("exec \"$SSM\" transcribe --model \"$MODEL\" --format tsv -dash.wav")
        XCTAssertEqual(dash.status, 64)
        XCTAssertEqual(dash.out, "")
        assertOneErrorLine(dash, naming: ["'-dash.wav'", "./-dash.wav", "--"])
        let unknown = try sh("exec \"$SSM\" transcribe --model \"$MODEL\" -hello.wav")
        XCTAssertEqual(unknown.status, 64)
        XCTAssertEqual(unknown.out, "", "no help text for an 'h' inside a word")
        assertOneErrorLine(unknown, naming: ["-hello.wav", "--"])
        let after = try sh("exec \"$SSM\" transcribe --model \"$MODEL\" --format tsv -- -dash.wav ./-dash.wav")
        XCTAssertEqual(after.status, 0, after.err)
        XCTAssertEqual(after.out, "-dash.wav" + goodTSVText + "./-dash.wav" + goodTSVText)
        let help = try run(["transcribe", "--help"])
        XCTAssertTrue(help.out.contains("./-name"), "the help says how")
        XCTAssertEqual(help.status, 0)
    }
}
