import Foundation
import SSMTensor

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
    public var lmWeight: Float?
    public var wordBonus: Float?
    public var unknownWordLog10: Float?
    /// Free text: what the values were tuned on (informational).
    public var tunedOn: String?

    enum CodingKeys: String, CodingKey {
        case lm, beam, lmWeight = "lm_weight", wordBonus = "word_bonus", unknownWordLog10 = "unknown_word_log10"
        case tunedOn = "tuned_on"
    }

    public init(lm: String? = nil, beam: Int? = nil, lmWeight: Float? = nil, wordBonus: Float? = nil,
                unknownWordLog10: Float? = nil, tunedOn: String? = nil) {
        self.lm = lm; self.beam = beam; self.lmWeight = lmWeight; self.wordBonus = wordBonus
        self.unknownWordLog10 = unknownWordLog10; self.tunedOn = tunedOn
    }

    public static let fileName = "decoding.json"

    /// The settings in the `decoding.json` at `path`, or empty settings if there is no such file.
    public static func load(path: String) throws -> DecoderSettings {
        guard InputFile.exists(path) else { return DecoderSettings() }
        let data: Data
        do { data = try InputFile.read(path) } catch let e as InputFile.Problem {
            throw LMError.badSettings(path: path, reason: e.reason)
        }
        return try parse(data, path: path)
    }

    /// Decodes `decoding.json` text and checks each number against `CTCBeamSearchOptions`' ranges;
    /// `path` names the file in errors.
    public static func parse(_ data: Data, path: String = "<decoding.json>") throws -> DecoderSettings {
        let s: DecoderSettings
        do { s = try JSONDecoder().decode(DecoderSettings.self, from: data) } catch {
            throw LMError.badSettings(path: path, reason: "not a valid decoding.json (\(error))")
        }
        if let p = s.problem() { throw LMError.badSettings(path: path, reason: p) }
        return s
    }

    /// The first field outside its range (`CTCBeamSearchOptions.beamWidths` …), named as in the file, or nil.
    public func problem() -> String? {
        typealias O = CTCBeamSearchOptions
        return beam.flatMap { RangeCheck.problem("beam", $0, O.beamWidths) }
            ?? lmWeight.flatMap { RangeCheck.problem("lm_weight", $0, O.lmWeights) }
            ?? wordBonus.flatMap { RangeCheck.problem("word_bonus", $0, O.wordBonuses) }
            ?? unknownWordLog10.flatMap { RangeCheck.problem("unknown_word_log10", $0, O.unknownWordLog10s) }
    }

    /// The settings of the model folder `directory` (its `decoding.json`), or empty settings if it has none.
    public static func load(modelDirectory directory: String) throws -> DecoderSettings {
        try load(path: (directory as NSString).appendingPathComponent(fileName))
    }

    /// The LM path resolved against `directory` (the model folder, where `decoding.json` lies), or nil.
    /// An absolute `lm` is returned as it is.
    public func lmPath(relativeTo directory: String) -> String? {
        guard let lm, !lm.isEmpty else { return nil }
        if lm.hasPrefix("/") { return lm }
        return URL(fileURLWithPath: directory).appendingPathComponent(lm).standardizedFileURL.path
    }

    /// The LM path resolved against the folder of the `decoding.json` at `settingsPath`, or nil.
    public func lmPath(settingsPath: String) -> String? {
        let folder = (settingsPath as NSString).deletingLastPathComponent
        return lmPath(relativeTo: folder.isEmpty ? "." : folder)
    }

    /// The LM path resolved against the model folder, or nil (`lmPath(relativeTo:)`).
    public func lmPath(modelDirectory directory: String) -> String? { lmPath(relativeTo: directory) }
}
