import Foundation

/// Decoding settings tuned for one model and shipped beside it as `decoding.json` in the model
/// folder. Every field is optional; command-line flags override them, and what neither gives falls
/// back to `CTCBeamSearchOptions`'s defaults.
///
///     {"lm": "../../lm/en-3gram.arpa", "beam": 32, "lm_weight": 0.6, "word_bonus": 2.0,
///      "unknown_word_log10": -10, "tuned_on": "…"}
///
/// `lm` is relative to the model folder. The weights are tuned on synthetic held-out speech by
/// `Training/tools/tune_decoder.py`, never on the real development set.
public struct DecoderSettings: Codable, Sendable, Equatable {
    public var lm: String?
    public var beam: Int?
    public var lm_weight: Float?
    public var word_bonus: Float?
    public var unknown_word_log10: Float?
    /// Free text: what the values were tuned on (informational).
    public var tuned_on: String?

    public init(lm: String? = nil, beam: Int? = nil, lm_weight: Float? = nil, word_bonus: Float? = nil,
                unknown_word_log10: Float? = nil, tuned_on: String? = nil) {
        self.lm = lm; self.beam = beam; self.lm_weight = lm_weight; self.word_bonus = word_bonus
        self.unknown_word_log10 = unknown_word_log10; self.tuned_on = tuned_on
    }

    public static let fileName = "decoding.json"

    /// The settings of the model folder `directory`, or empty settings if it has no `decoding.json`.
    public static func load(modelDirectory directory: String) throws -> DecoderSettings {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return DecoderSettings() }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LMError.badSettings(path: path, reason: error.localizedDescription)
        }
        let s: DecoderSettings
        do { s = try JSONDecoder().decode(DecoderSettings.self, from: data) } catch {
            throw LMError.badSettings(path: path, reason: "not a valid decoding.json (\(error))")
        }
        if let b = s.beam, b < 1 { throw LMError.badSettings(path: path, reason: "beam must be at least 1, got \(b)") }
        return s
    }

    /// The LM path resolved against the model folder, or nil.
    public func lmPath(modelDirectory directory: String) -> String? {
        guard let lm, !lm.isEmpty else { return nil }
        if lm.hasPrefix("/") { return lm }
        return URL(fileURLWithPath: directory).appendingPathComponent(lm).standardizedFileURL.path
    }
}
