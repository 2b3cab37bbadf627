import Foundation
import SSMSpeech

/// Output formats of `ssmspeech transcribe` (README.md, "Using it").
enum OutputFormat: String, CaseIterable, Sendable {
    case text, tsv, json, srt, vtt
}

/// The command line's own formats: `tsv` (raw file-name bytes) and the choice of format.
extension TranscriptFormatter {
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
