import Foundation
import SSMDecoding
import SSMTestSupport
import XCTest

/// `decoding.json`: snake_case keys in the file, camelCase in Swift; a missing file is the defaults.
final class DecoderSettingsTests: XCTestCase {
    func testLoadKeysAndLMPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("decoding-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("decoding.json").path
        XCTAssertEqual(try DecoderSettings.load(path: path), DecoderSettings())
        XCTAssertEqual(try DecoderSettings.load(modelDirectory: dir.path), DecoderSettings())

        let json = #"{"lm": "../shared.arpa", "beam": 4, "lm_weight": 0.7, "word_bonus": 0.5, "unknown_word_log10": -10, "tuned_on": "x"}"#
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let s = try DecoderSettings.load(path: path)
        XCTAssertEqual(s, DecoderSettings(lm: "../shared.arpa", beam: 4, lmWeight: 0.7, wordBonus: 0.5,
                                          unknownWordLog10: -10, tunedOn: "x"))
        XCTAssertEqual(try DecoderSettings.load(modelDirectory: dir.path), s)
        XCTAssertEqual(try jsonKeyPaths(JSONEncoder().encode(s)), try jsonKeyPaths(Data(json.utf8)))

        let expected = dir.deletingLastPathComponent().appendingPathComponent("shared.arpa").standardizedFileURL.path
        XCTAssertEqual(s.lmPath(relativeTo: dir.path), expected)
        XCTAssertEqual(s.lmPath(settingsPath: path), expected)
        XCTAssertEqual(s.lmPath(modelDirectory: dir.path), expected)
        XCTAssertEqual(DecoderSettings(lm: "/abs/lm.arpa").lmPath(relativeTo: dir.path), "/abs/lm.arpa")
        XCTAssertNil(DecoderSettings().lmPath(relativeTo: dir.path))

        try #"{"beam": 0}"#.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DecoderSettings.load(path: path))
    }
}
