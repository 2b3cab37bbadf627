import Foundation
@testable import SSMServer
import SSMSpeech
import XCTest

/// The server's pieces without a socket: the stream config message, multipart bodies, the outbox.
final class ServerPiecesTests: XCTestCase {
    func testStreamConfigDefaultsAndValues() throws {
        let d = try StreamConfig.parse("{}")
        XCTAssertEqual(d.format, RawPCMFormat(sampleRate: 16_000, encoding: .s16le, channels: 1))
        XCTAssertNil(d.endpoint)
        let c = try StreamConfig.parse(#"{"sample_rate": 48000, "encoding": "f32le", "channels": 2, "endpoint": {"trailing_silence": 0.5}}"#)
        XCTAssertEqual(c.format, RawPCMFormat(sampleRate: 48_000, encoding: .f32le, channels: 2))
        XCTAssertEqual(c.endpoint, EndpointConfig(trailingSilence: 0.5, maxUtterance: 30), "unset endpoint fields keep the server's")
    }

    func testStreamConfigErrorsNameTheProblem() {
        let cases: [(String, String)] = [
            ("not json", "must be a JSON object"),
            ("[1]", "must be a JSON object"),
            (#"{"rate": 16000}"#, "unknown config key \"rate\""),
            (#"{"sample_rate": 1000}"#, "sample_rate must be 8000…768000 Hz, got 1000"),
            (#"{"sample_rate": 16000.5}"#, "sample_rate must be an integer"),
            (#"{"sample_rate": true}"#, "sample_rate must be an integer"),
            (#"{"encoding": "mp3"}"#, "encoding must be one of"),
            (#"{"channels": 0}"#, "channels must be 1…1024, got 0"),
            (#"{"endpoint": {"trailing_silence": -1}}"#, "endpoint.trailing_silence must be"),
            (#"{"endpoint": {"silence": 1}}"#, "unknown endpoint key \"silence\""),
            (#"{"endpoint": 3}"#, "endpoint must be a JSON object"),
        ]
        for (message, expected) in cases {
            XCTAssertThrowsError(try StreamConfig.parse(message), message) { e in
                XCTAssertTrue("\(e)".contains(expected), "\(message): \(e)")
            }
        }
    }

    func testControlMessages() throws {
        guard case .end = try ControlMessage.parse(#"{"type":"end"}"#) else { return XCTFail() }
        XCTAssertThrowsError(try ControlMessage.parse(#"{"type":"stop"}"#))
        XCTAssertThrowsError(try ControlMessage.parse("end"))
    }

    func testMultipartFormFields() throws {
        let audio: [UInt8] = [0, 1, 2, 13, 10, 45, 45, 255]  // binary, with a CRLF and "--" inside
        var body = Array("preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.wav\"\r\nContent-Type: audio/wav\r\n\r\n".utf8)
        body += audio
        body += Array("\r\n--XyZ\r\ncontent-disposition: form-data; name=response_format\r\n\r\nsrt\r\n--XyZ--\r\n".utf8)
        XCTAssertEqual(Multipart.boundary(contentType: "multipart/form-data; boundary=\"XyZ\""), "XyZ")
        XCTAssertNil(Multipart.boundary(contentType: "application/json"))
        let parts = try Multipart.parse(body, boundary: "XyZ")
        XCTAssertEqual(parts.count, 2)
        XCTAssertEqual(parts[0], FormPart(name: "file", filename: "a b.wav", contentType: "audio/wav", body: audio))
        XCTAssertEqual(parts[1].name, "response_format")
        XCTAssertEqual(String(decoding: parts[1].body, as: UTF8.self), "srt")
    }

    func testMultipartRejectsBrokenBodies() {
        let good = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--"
        XCTAssertNoThrow(try Multipart.parse(Array(good.utf8), boundary: "b"))
        for bad in ["", "--b\r\n", "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b",  // no closing delimiter
                    "--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--",                              // no disposition
                    "--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--",                       // no name
                    "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n1\r\n--b--"] {             // no blank line
            XCTAssertThrowsError(try Multipart.parse(Array(bad.utf8), boundary: "b"), bad)
        }
    }

    /// A client that does not read: the outbox refuses messages beyond its limit and says so.
    func testOutboxLimitAndClose() async {
        let box = Outbox(limit: 3)
        XCTAssertTrue(box.send("a")); XCTAssertTrue(box.send("b")); XCTAssertTrue(box.send("c"))
        XCTAssertFalse(box.send("d"))
        XCTAssertTrue(box.overflowed)
        box.didWrite()
        XCTAssertFalse(box.overflowed)
        box.close(.normal)
        XCTAssertFalse(box.send("e"), "nothing after the close")
        var seen: [String] = []
        for await item in box.messages {
            switch item {
            case .text(let t): seen.append(t)
            case .close(let code, _): seen.append("close \(code)")
            }
        }
        XCTAssertEqual(seen, ["a", "b", "c", "close normal"])
    }
}
