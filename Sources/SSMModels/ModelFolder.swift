import Foundation

/// A recognition model folder (`Resources/models/<name>/`, Docs/ARCHITECTURE.md) and the names of its files:
///
/// - `config.json`: the `EncoderConfig` (required; its presence is what makes a folder a model folder)
/// - `model.safetensors`: the encoder's weights, float32 (required)
/// - `decoding.json`: tuned decoding settings (`DecoderSettings`, optional)
/// - `lm.arpa`: a language model bundled with the model (optional; used when neither the command line
///   nor `decoding.json` names one)
/// - `metrics.json`: evaluation results (informational, not read by the code)
public struct ModelFolder: Sendable, Equatable {
    /// The folder's path, as given.
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { file("config.json") }
    public var weightsPath: String { file("model.safetensors") }
    public var decodingPath: String { file("decoding.json") }
    public var bundledLMPath: String { file("lm.arpa") }
    /// The folder's last path component (the model's name under `Resources/models`).
    public var name: String { (path as NSString).lastPathComponent }

    /// Whether the folder holds a `config.json` (what makes it a model folder).
    public var isModelFolder: Bool { Self.isModelFolder(path) }

    /// Whether `path` is a folder holding a `config.json`.
    public static func isModelFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
    }

    private func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}
