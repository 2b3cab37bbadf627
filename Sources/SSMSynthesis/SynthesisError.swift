import Foundation

/// Errors of the synthesis module, each with a message a user can act on.
public enum SynthesisError: Error, CustomStringConvertible {
    /// libespeak-ng could not start (its data folder is missing, for example).
    case espeakUnavailable(String)
    /// espeak-ng has no voice of this name.
    case espeakVoiceMissing(String)
    case cannotRead(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case voiceNotFound(String, searched: [String])
    /// The text has nothing speakable in it (after normalisation and phonemisation).
    case nothingToSay

    public var description: String {
        switch self {
        case .espeakUnavailable(let why): return "espeak-ng could not start: \(why) (is the espeak-ng-data package installed?)"
        case .espeakVoiceMissing(let v): return "espeak-ng has no voice '\(v)'"
        case .cannotRead(let p, let r): return "\(p): \(r)"
        case .invalidConfig(let p, let r): return "\(p): invalid voice config: \(r)"
        case .voiceNotFound(let v, let searched):
            return "voice '\(v)' not found (looked in: \(searched.joined(separator: ", ")))"
        case .nothingToSay: return "the text has nothing to speak"
        }
    }
}
