// TranscriptFormats.swift: transcripts as JSON, `stream --json` events, SubRip and WebVTT
// (Docs/INTERFACE.md): one implementation for the command line and the server.

import Foundation

/// Renders transcripts in the formats of Docs/INTERFACE.md.
public enum TranscriptFormatter {
    /// One JSON-escaped string literal.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// A finite number with `digits` decimals ("0" for NaN or infinity).
    public static func number(_ x: Double, _ digits: Int = 3) -> String {
        guard x.isFinite else { return "0" }
        return String(format: "%.\(digits)f", x)
    }

    /// `{"file":…, "text":…, "duration":s, "words":[{"word":…, "start":s, "end":s}], "rtf":…}` on one line.
    public static func json(file: String, transcript t: Transcript, rtf: Double) -> String {
        "{\"file\":\(jsonString(file)),\"text\":\(jsonString(t.text)),\"duration\":\(number(t.duration)),\"words\":\(wordsJSON(t.words)),\"rtf\":\(number(rtf, 5))}"
    }

    /// `[{"word":…, "start":s, "end":s}, …]`.
    public static func wordsJSON(_ words: [WordTiming]) -> String {
        "[" + words.map { "{\"word\":\(jsonString($0.word)),\"start\":\(number($0.start)),\"end\":\(number($0.end))}" }
            .joined(separator: ",") + "]"
    }

    /// One `stream --json` line: `{"type":"partial"|"final", "text":…, "start":s, "end":s}`; finals also
    /// carry `"words"`.
    public static func streamEvent(final: Bool, utterance u: Utterance) -> String {
        let head = "{\"type\":\(final ? "\"final\"" : "\"partial\""),\"text\":\(jsonString(u.text)),\"start\":\(number(u.start)),\"end\":\(number(u.end))"
        return head + (final ? ",\"words\":\(wordsJSON(u.words))}" : "}")
    }

    public static func timestamp(_ seconds: Double, separator: Character) -> String {
        let ms = Int((max(0, seconds) * 1000).rounded())
        return String(format: "%02d:%02d:%02d\(separator)%03d", ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000)
    }

    /// Groups words into subtitle cues of at most `maxWords` words or `maxSeconds` seconds.
    public static func cues(_ t: Transcript, maxWords: Int = 12, maxSeconds: Double = 5) -> [[WordTiming]] {
        var cues: [[WordTiming]] = [], cur: [WordTiming] = []
        for w in t.words {
            if let first = cur.first, cur.count >= maxWords || w.end - first.start > maxSeconds {
                cues.append(cur); cur = []
            }
            cur.append(w)
        }
        if !cur.isEmpty { cues.append(cur) }
        return cues
    }

    /// SubRip: numbered cues `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each.
    public static func srt(_ t: Transcript) -> String {
        var out = ""
        for (i, cue) in cues(t).enumerated() {
            out += "\(i + 1)\n\(timestamp(cue.first!.start, separator: ",")) --> \(timestamp(cue.last!.end, separator: ","))\n"
            out += cue.map(\.word).joined(separator: " ") + "\n\n"
        }
        return out
    }

    /// WebVTT with word timing as inline `<HH:MM:SS.mmm>` timestamps.
    public static func vtt(_ t: Transcript) -> String {
        var out = "WEBVTT\n\n"
        for cue in cues(t) {
            out += "\(timestamp(cue.first!.start, separator: ".")) --> \(timestamp(cue.last!.end, separator: "."))\n"
            out += cue.enumerated().map { i, w in i == 0 ? w.word : "<\(timestamp(w.start, separator: "."))>\(w.word)" }.joined(separator: " ")
            out += "\n\n"
        }
        return out
    }
}
