import CEspeakNG
import Foundation

/// Grapheme-to-phoneme conversion of one clause (no punctuation handling): text → IPA string.
public protocol Phonemizer: Sendable {
    func phonemes(_ clause: String) throws -> String
}

/// IPA phonemes from libespeak-ng's `espeak_TextToPhonemes` (the phonemizer Piper also uses), with the
/// voice named in the synthesizer's config (`en-us`). The training recipe calls the same function
/// (`Training/tts/frontend.py`), so both see the same phoneme strings.
///
/// espeak-ng keeps global state and is not thread-safe: every call goes through one process-wide lock,
/// and the library is initialised once.
public final class EspeakPhonemizer: Phonemizer, @unchecked Sendable {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var initialized = false
    nonisolated(unsafe) private static var currentVoice: String?

    public let voice: String

    public init(voice: String = "en-us") throws {
        self.voice = voice
        try Self.lock.withLock {
            if !Self.initialized {
                // AUDIO_OUTPUT_SYNCHRONOUS, no audio buffer, default data path, don't exit on error.
                let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, Int32(espeakINITIALIZE_DONT_EXIT))
                guard rate > 0 else { throw SynthesisError.espeakUnavailable("espeak_Initialize returned \(rate)") }
                Self.initialized = true
            }
            try Self.select(voice)
        }
    }

    private static func select(_ voice: String) throws {
        guard currentVoice != voice else { return }
        guard espeak_SetVoiceByName(voice) == EE_OK else { throw SynthesisError.espeakVoiceMissing(voice) }
        currentVoice = voice
    }

    public func phonemes(_ clause: String) throws -> String {
        try Self.lock.withLock {
            try Self.select(voice)
            var pieces: [String] = []
            clause.withCString { cText in
                var ptr: UnsafeRawPointer? = UnsafeRawPointer(cText)
                while let p = ptr, p.load(as: UInt8.self) != 0 {
                    // espeakCHARS_UTF8 text, phoneme mode bit 1 = IPA; advances `ptr` past one clause (NULL at the end).
                    guard let out = espeak_TextToPhonemes(&ptr, espeakCHARS_UTF8, 0x02) else { break }
                    let s = String(cString: out).trimmingCharacters(in: .whitespacesAndNewlines)
                    if !s.isEmpty { pieces.append(s) }
                }
            }
            return pieces.joined(separator: " ")
        }
    }
}
