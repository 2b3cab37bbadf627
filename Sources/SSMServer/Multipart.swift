// Multipart.swift: `multipart/form-data` bodies (RFC 7578), as `POST /v1/audio/transcriptions` takes.

import Foundation

/// One part of a form: its field name, file name (for file fields) and bytes.
struct FormPart: Equatable {
    var name: String
    var filename: String?
    var contentType: String?
    var body: [UInt8]
}

enum MultipartError: Error, Equatable, CustomStringConvertible {
    case notMultipart
    case malformed(String)

    var description: String {
        switch self {
        case .notMultipart: return "the body must be multipart/form-data (with a boundary)"
        case .malformed(let m): return "malformed multipart body: \(m)"
        }
    }
}

enum Multipart {
    /// Longest header block of one part.
    static let maxHeaderBytes = 8_192

    /// The boundary of a `Content-Type: multipart/form-data; boundary=…` header (quotes removed).
    static func boundary(contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let b = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return (1...70).contains(b.utf8.count) ? b : nil
            }
        }
        return nil
    }

    /// Splits a body into its parts. Strict where it matters (every part needs a
    /// `Content-Disposition: form-data; name=…`, the closing delimiter must be there), lenient about
    /// preamble, epilogue and header case.
    static func parse(_ body: [UInt8], boundary: String) throws -> [FormPart] {
        let delimiter = Array("--\(boundary)".utf8)
        var positions: [Int] = []
        var i = 0
        while let p = find(delimiter, in: body, from: i) {
            // a delimiter starts the body or follows CRLF
            if p == 0 || (p >= 2 && body[p - 2] == 13 && body[p - 1] == 10) { positions.append(p) }
            i = p + delimiter.count
        }
        guard positions.count >= 2 else { throw MultipartError.malformed("no parts (boundary \"\(boundary)\" not found twice)") }
        let last = positions.last! + delimiter.count
        guard last + 1 < body.count + 1, body.count >= last + 2, body[last] == 45, body[last + 1] == 45 else {
            throw MultipartError.malformed("the closing delimiter \"--\(boundary)--\" is missing")
        }
        var parts: [FormPart] = []
        for k in 0..<(positions.count - 1) {
            var start = positions[k] + delimiter.count
            // the rest of the delimiter line (transport padding) up to CRLF
            guard let eol = find([13, 10], in: body, from: start), eol < positions[k + 1] else {
                throw MultipartError.malformed("a delimiter line does not end with CRLF")
            }
            start = eol + 2
            let end = positions[k + 1] - 2  // the CRLF before the next delimiter belongs to it
            guard end >= start else { throw MultipartError.malformed("a part is cut short") }
            let part = Array(body[start..<end])
            // the headers end at the first blank line, within `maxHeaderBytes`
            let window = Array(part.prefix(maxHeaderBytes + 4))
            guard let headerEnd = find([13, 10, 13, 10], in: window, from: 0) ?? (part.starts(with: [13, 10]) ? -2 : nil) else {
                throw MultipartError.malformed("a part has no blank line within \(maxHeaderBytes) bytes of headers")
            }
            let headerText = headerEnd < 0 ? "" : String(decoding: part[0..<headerEnd], as: UTF8.self)
            var disposition: String?, contentType: String?
            for line in headerText.components(separatedBy: "\r\n") where !line.isEmpty {
                let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { throw MultipartError.malformed("bad part header \"\(line.prefix(80))\"") }
                switch kv[0].lowercased() {
                case "content-disposition": disposition = kv[1]
                case "content-type": contentType = kv[1]
                default: break
                }
            }
            guard let disposition, disposition.lowercased().hasPrefix("form-data") else {
                throw MultipartError.malformed("a part has no Content-Disposition: form-data")
            }
            guard let name = parameter("name", in: disposition) else {
                throw MultipartError.malformed("a part has no field name")
            }
            parts.append(FormPart(name: name, filename: parameter("filename", in: disposition), contentType: contentType,
                                  body: Array(part[(headerEnd + 4)...])))
        }
        return parts
    }

    /// `name="value"` (or unquoted) in a header value: one pass over its characters, parameters
    /// separated by `;`.
    static func parameter(_ key: String, in header: String) -> String? {
        let chars = Array(header)
        var i = 0
        while i < chars.count {
            // skip to the start of a parameter name
            while i < chars.count, chars[i] == ";" || chars[i] == " " || chars[i] == "\t" { i += 1 }
            var name = ""
            while i < chars.count, chars[i] != "=", chars[i] != ";" { name.append(chars[i]); i += 1 }
            guard i < chars.count, chars[i] == "=" else { continue }
            i += 1
            var value = ""
            if i < chars.count, chars[i] == "\"" {
                i += 1
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    value.append(chars[i]); i += 1
                }
                i += 1
            } else {
                while i < chars.count, chars[i] != ";" { value.append(chars[i]); i += 1 }
                value = value.trimmingCharacters(in: .whitespaces)
            }
            if name.trimmingCharacters(in: .whitespaces).lowercased() == key { return value }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count, start <= hay.count - needle.count else { return nil }
        let first = needle[0]
        var i = start
        while i <= hay.count - needle.count {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
