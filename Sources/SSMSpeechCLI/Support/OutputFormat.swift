import Foundation
import SSMSpeech

/// Output formats of `ssmspeech transcribe` (README.md, "Using it").
enum OutputFormat: String, CaseIterable, Sendable {
    case text, tsv, json, srt, vtt
}

/// Renders transcripts in the formats of Docs/INTERFACE.md.
enum TranscriptFormatter {
    /// One JSON-escaped string literal.
    static func jsonString(_ s: String) -> String {
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

    private static func number(_ x: Double, _ digits: Int = 3) -> String {
        guard x.isFinite else { return "0" }
        return String(format: "%.\(digits)f", x)
    }

    /// `{"file":…, "text":…, "duration":s, "words":[{"word":…, "start":s, "end":s}], "rtf":…}` on one line.
    static func json(file: String, transcript t: Transcript, rtf: Double) -> String {
        "{\"file\":\(jsonString(file)),\"text\":\(jsonString(t.text)),\"duration\":\(number(t.duration)),\"words\":\(wordsJSON(t.words)),\"rtf\":\(number(rtf, 5))}"
    }

    private static func wordsJSON(_ words: [WordTiming]) -> String {
        "[" + words.map { "{\"word\":\(jsonString($0.word)),\"start\":\(number($0.start)),\"end\":\(number($0.end))}" }
            .joined(separator: ",") + "]"
    }

    /// One `stream --json` line: `{"type":"partial"|"final", "text":…, "start":s, "end":s}`; finals also
    /// carry `"words"`.
    static func streamEvent(final: Bool, utterance u: Utterance) -> String {
        let head = "{\"type\":\(final ? "\"final\"" : "\"partial\""),\"text\":\(jsonString(u.text)),\"start\":\(number(u.start)),\"end\":\(number(u.end))"
        return head + (final ? ",\"words\":\(wordsJSON(u.words))}" : "}")
    }

    static func timestamp(_ seconds: Double, separator: Character) -> String {
        let ms = Int((max(0, seconds) * 1000).rounded())
        return String(format: "%02d:%02d:%02d\(separator)%03d", ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000)
    }

    /// Groups words into subtitle cues of at most `maxWords` words or `maxSeconds` seconds.
    static func cues(_ t: Transcript, maxWords: Int = 12, maxSeconds: Double = 5) -> [[WordTiming]] {
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
    static func srt(_ t: Transcript) -> String {
        var out = ""
        for (i, cue) in cues(t).enumerated() {
            out += "\(i + 1)\n\(timestamp(cue.first!.start, separator: ",")) --> \(timestamp(cue.last!.end, separator: ","))\n"
            out += cue.map(\.word).joined(separator: " ") + "\n\n"
        }
        return out
    }

    /// WebVTT with word timing as inline `<HH:MM:SS.mmm>` timestamps.
    static func vtt(_ t: Transcript) -> String {
        var out = "WEBVTT\n\n"
        for cue in cues(t) {
            out += "\(timestamp(cue.first!.start, separator: ".")) --> \(timestamp(cue.last!.end, separator: "."))\n"
            out += cue.enumerated().map { i, w in i == 0 ? w.word : "<\(timestamp(w.start, separator: "."))>\(w.word)" }.joined(separator: " ")
            out += "\n\n"
        }
        return out
    }

    /// One `tsv` field: a backslash, tab, newline or carriage return is written `\\`, `\t`, `\n`, `\r`,
    /// another control character or a byte that is not UTF-8 (a file name given as raw bytes) `\xHH`;
    /// so a line is always one record of two fields.
    static func tsvField<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        let raw = Array(bytes)
        if !raw.contains(where: { $0 < 0x20 || $0 == 0x5C || $0 == 0x7F }), let s = String(validating: raw, as: UTF8.self) {
            return s
        }
        return CommandLineArguments.escaping(raw) { b in
            switch b {
            case UInt8(ascii: "\\"): return "\\\\"
            case UInt8(ascii: "\t"): return "\\t"
            case UInt8(ascii: "\n"): return "\\n"
            case UInt8(ascii: "\r"): return "\\r"
            case 0..<0x20, 0x7F: return String(format: "\\x%02X", b)
            default: return nil
            }
        }
    }

    /// The text written to stdout for one file in `format`. `fileBytes`: the file name's bytes when they
    /// are not UTF-8 (`file` then shows them as `\xHH`).
    static func render(_ format: OutputFormat, file: String, fileBytes: [UInt8]? = nil, transcript t: Transcript, rtf: Double) -> String {
        switch format {
        case .text: return t.text + "\n"
        case .tsv: return tsvField(fileBytes ?? Array(file.utf8)) + "\t" + tsvField(t.text.utf8) + "\n"
        case .json: return json(file: file, transcript: t, rtf: rtf) + "\n"
        case .srt: return srt(t)
        case .vtt: return vtt(t)
        }
    }
}
