import Foundation

/// A voice folder (`Resources/voices/<name>/`, Docs/ARCHITECTURE.md) and the names of its files:
///
/// - `config.json`: the `TTSConfig` (format, phoneme vocabulary, audio, acoustic and vocoder sections;
///   its presence is what makes a folder a voice folder)
/// - `acoustic.safetensors`: the acoustic model's weights (phonemes → mel frames)
/// - `vocoder.safetensors`: the vocoder's weights (mel frames → samples)
public struct VoiceFolder: Sendable, Equatable {
    /// The folder's path, as given.
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { file("config.json") }
    public var acousticPath: String { file("acoustic.safetensors") }
    public var vocoderPath: String { file("vocoder.safetensors") }
    /// The folder's last path component (the voice's name under `Resources/voices`).
    public var name: String { (path as NSString).lastPathComponent }

    /// Whether the folder holds a `config.json` (what makes it a voice folder).
    public var isVoiceFolder: Bool { Self.isVoiceFolder(path) }

    /// Whether `path` is a folder holding a `config.json`.
    public static func isVoiceFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
    }

    private func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}
