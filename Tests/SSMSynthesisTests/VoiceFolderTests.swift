import Foundation
import SSMSynthesis
import SSMTestSupport
import XCTest

/// Voice folders and the file format of a voice's `config.json` (snake_case keys, camelCase in Swift).
final class VoiceFolderTests: XCTestCase {
    func testVoiceFolderNamesItsFiles() {
        let f = VoiceFolder(path: Fixtures.path("tts_tiny"))
        XCTAssertEqual(f.name, "tts_tiny")
        XCTAssertEqual(f.configPath, Fixtures.path("tts_tiny/config.json"))
        XCTAssertEqual(f.acousticPath, Fixtures.path("tts_tiny/acoustic.safetensors"))
        XCTAssertEqual(f.vocoderPath, Fixtures.path("tts_tiny/vocoder.safetensors"))
        XCTAssertTrue(f.isVoiceFolder)
        XCTAssertFalse(VoiceFolder.isVoiceFolder(Fixtures.path("no-such-voice")))
    }

    func testTTSConfigKeepsTheFileKeys() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tts_tiny/config.json")))
        let c = try TTSConfig.load(path: Fixtures.path("tts_tiny/config.json"))
        XCTAssertEqual(c.audio.sampleRate, 16_000)
        XCTAssertEqual(c.espeakVoice, "en-us")
        let written = try JSONEncoder().encode(c)
        // "dt_rank": "auto" reads as nil, which is written by leaving the key out.
        XCTAssertEqual(try jsonKeyPaths(written), try jsonKeyPaths(data).subtracting(["acoustic.mamba.dt_rank"]))
        XCTAssertEqual(try JSONDecoder().decode(TTSConfig.self, from: written), c)
    }
}
