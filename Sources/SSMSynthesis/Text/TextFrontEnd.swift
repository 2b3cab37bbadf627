import Foundation

/// Text → token ids for the acoustic model, as `Training/tts/frontend.py` does it:
/// 1. `TextNormalizer.expand` (numbers, money, times, abbreviations, …);
/// 2. clauses ending at `, . ; : ! ?` (`;` and `:` count as `,`; the strongest mark of a run wins:
///    `? ! . ,` from strongest, as ordered in `marks` reversed), the last clause gets `.` if it has none;
/// 3. each clause through the phonemizer; the clause's IPA + its mark, clauses joined by one space;
/// 4. `^` + one token per Unicode scalar (scalars outside the vocabulary dropped) + `$`.
public struct TextFrontEnd: Sendable {
    public static let bos = "^", eos = "$"
    /// Clause marks from weakest to strongest.
    static let marks: [Character] = [",", ".", "?", "!"]
    static let markAliases: [Character: Character] = [";": ",", ":": ","]
    static let clauseEnders: Set<Character> = [",", ".", ";", ":", "!", "?"]

    public let phonemizer: any Phonemizer
    /// Unicode scalar → token id.
    let index: [Unicode.Scalar: Int32]
    let bosID: Int32, eosID: Int32

    public init(vocab: [String], phonemizer: any Phonemizer) throws {
        var index: [Unicode.Scalar: Int32] = [:]
        for (i, v) in vocab.enumerated() {
            guard v.unicodeScalars.count == 1, let s = v.unicodeScalars.first else {
                throw SynthesisError.invalidConfig(path: "<config>", reason: "vocab entry \(i) '\(v)' is not one Unicode scalar")
            }
            index[s] = Int32(i)
        }
        guard let b = index[Unicode.Scalar(Self.bos)!], let e = index[Unicode.Scalar(Self.eos)!] else {
            throw SynthesisError.invalidConfig(path: "<config>", reason: "vocab lacks '^' or '$'")
        }
        self.index = index; bosID = b; eosID = e
        self.phonemizer = phonemizer
    }

    /// (words, mark) per clause of already-normalised text; mark is nil when the clause has none.
    public static func clauses(_ text: String) -> [(words: String, mark: Character?)] {
        var out: [(words: String, mark: Character?)] = []
        var i = text.startIndex
        while i < text.endIndex {
            // a run of non-marks (at least one), then a run of marks
            var j = i
            while j < text.endIndex, !clauseEnders.contains(text[j]) { j = text.index(after: j) }
            if j == i {  // marks with no words before them (start of text)
                while i < text.endIndex, clauseEnders.contains(text[i]) { i = text.index(after: i) }
                continue
            }
            var k = j
            var mark: Character?
            while k < text.endIndex, clauseEnders.contains(text[k]) {
                let c = markAliases[text[k]] ?? text[k]
                if mark == nil || marks.firstIndex(of: c)! > marks.firstIndex(of: mark!)! { mark = c }
                k = text.index(after: k)
            }
            let words = text[i..<j].trimmingCharacters(in: .whitespacesAndNewlines)
            if !words.isEmpty, words.contains(where: { $0.isLetter || $0.isNumber }) {
                out.append((words, mark))
            } else if let m = mark, !out.isEmpty, out[out.count - 1].mark == nil {
                out[out.count - 1].mark = m
            }
            i = k
        }
        return out
    }

    /// The phoneme string the model reads (without `^`/`$`), e.g. `həlˈoʊ, wˈɜːld!`: all of `text` as one
    /// utterance, as the training recipe does.
    public func phonemeString(_ text: String) throws -> String {
        try phonemeString(clauses: Self.clauses(TextNormalizer.expand(text)))
    }

    func phonemeString(clauses cl: [(words: String, mark: Character?)]) throws -> String {
        var parts: [String] = []
        for (n, c) in cl.enumerated() {
            let mark = c.mark ?? (n == cl.count - 1 ? "." : nil)
            let ph = try phonemizer.phonemes(c.words)
            if !ph.isEmpty { parts.append(ph + (mark.map { String($0) } ?? "")) }
        }
        return parts.joined(separator: " ")
    }

    /// Token ids per utterance: `text` split after each `. ? !` clause, and after the clause that reaches
    /// `maxWords` words; a clause longer than `maxWords + 15` words is cut every `maxWords` words.
    /// Utterances with no phonemes are left out.
    public func utterances(_ text: String, maxWords: Int = 25) throws -> [[Int32]] {
        var pieces: [(words: String, mark: Character?)] = []
        for c in Self.clauses(TextNormalizer.expand(text)) {
            let words = c.words.split(whereSeparator: { $0.isWhitespace })
            if words.count <= maxWords + 15 { pieces.append(c); continue }
            for start in stride(from: 0, to: words.count, by: maxWords) {
                let end = min(words.count, start + maxWords)
                pieces.append((words[start..<end].joined(separator: " "), end == words.count ? c.mark : nil))
            }
        }
        var out: [[Int32]] = []
        var group: [(words: String, mark: Character?)] = []
        var count = 0
        func close() throws {
            defer { group = []; count = 0 }
            guard !group.isEmpty else { return }
            let ph = try phonemeString(clauses: group)
            if !ph.isEmpty { out.append(tokens(forPhonemes: ph)) }
        }
        for p in pieces {
            group.append(p)
            count += p.words.split(whereSeparator: { $0.isWhitespace }).count
            if let m = p.mark, m != "," { try close() } else if count >= maxWords { try close() }
        }
        try close()
        return out
    }

    /// Token ids `(N)`: `^`, the phoneme string's scalars found in the vocabulary, `$`.
    public func tokens(forPhonemes phonemes: String) -> [Int32] {
        [bosID] + phonemes.unicodeScalars.compactMap { index[$0] } + [eosID]
    }

    public func tokens(_ text: String) throws -> [Int32] { tokens(forPhonemes: try phonemeString(text)) }
}
