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

    /// Longest word (in characters, after normalisation) that ``utterances(_:maxWords:)`` passes to the
    /// phonemizer whole; longer ones are cut into pieces of at most this many characters.
    public static let maxWordCharacters = 40

    /// `word` cut into `⌈count / maxWordCharacters⌉` pieces of nearly equal length (a 41-letter word
    /// gives 21 + 20); words of at most `maxWordCharacters` characters are returned whole.
    static func splitOverlong<S: StringProtocol>(_ word: S) -> [Substring] {
        let count = word.count
        guard count > maxWordCharacters else { return [Substring(word)] }
        let pieces = (count + maxWordCharacters - 1) / maxWordCharacters
        var out: [Substring] = []
        out.reserveCapacity(pieces)
        var start = word.startIndex
        for k in 0..<pieces {
            let length = count / pieces + (k < count % pieces ? 1 : 0)
            let end = word.index(start, offsetBy: length)
            out.append(Substring(word[start..<end]))
            start = end
        }
        return out
    }

    /// Token ids per utterance: `text` split after each `. ? !` clause, and after the clause that reaches
    /// `maxWords` words; a clause longer than `maxWords + 15` words is cut every `maxWords` words.
    /// Utterances with no phonemes are left out.
    ///
    /// A word longer than ``maxWordCharacters`` characters (after normalisation: "aaaa…" a megabyte long,
    /// a URL, a run of letters with no space) is first cut into pieces of at most that length, each
    /// then read as a word: without the cut, the whole run became one utterance whose phonemes, tokens
    /// and acoustic plan grew with it (1 MB of one letter: 1.3 GB and 16 s before any audio). English
    /// words are far shorter, so ordinary text is not affected; ``phonemeString(_:)`` and
    /// ``tokens(_:)`` (all of a text as one utterance, as the training recipe reads it) do not cut.
    public func utterances(_ text: String, maxWords: Int = 25) throws -> [[Int32]] {
        var out: [[Int32]] = []
        try forEachUtterance(text, maxWords: maxWords) { out.append($0); return true }
        return out
    }

    /// ``utterances(_:maxWords:)`` one at a time: `body` gets each utterance's token ids as soon as it is
    /// phonemized (the first long before the last of a long text), and returns false to stop.
    public func forEachUtterance(_ text: String, maxWords: Int = 25, _ body: ([Int32]) throws -> Bool) throws {
        var pieces: [(words: String, mark: Character?)] = []
        for var c in Self.clauses(TextNormalizer.expand(text)) {
            var words = c.words.split(whereSeparator: { $0.isWhitespace })
            if words.contains(where: { $0.count > Self.maxWordCharacters }) {
                words = words.flatMap { Self.splitOverlong($0) }
                c.words = words.joined(separator: " ")
            }
            if words.count <= maxWords + 15 { pieces.append(c); continue }
            for start in stride(from: 0, to: words.count, by: maxWords) {
                let end = min(words.count, start + maxWords)
                pieces.append((words[start..<end].joined(separator: " "), end == words.count ? c.mark : nil))
            }
        }
        var group: [(words: String, mark: Character?)] = []
        var count = 0
        var going = true
        func close() throws {
            defer { group = []; count = 0 }
            guard !group.isEmpty else { return }
            let ph = try phonemeString(clauses: group)
            if !ph.isEmpty { going = try body(tokens(forPhonemes: ph)) }
        }
        for p in pieces where going {
            group.append(p)
            count += p.words.split(whereSeparator: { $0.isWhitespace }).count
            if let m = p.mark, m != "," { try close() } else if count >= maxWords { try close() }
        }
        if going { try close() }
    }

    /// Token ids `(N)`: `^`, the phoneme string's scalars found in the vocabulary, `$`.
    public func tokens(forPhonemes phonemes: String) -> [Int32] {
        [bosID] + phonemes.unicodeScalars.compactMap { index[$0] } + [eosID]
    }

    public func tokens(_ text: String) throws -> [Int32] { tokens(forPhonemes: try phonemeString(text)) }
}
