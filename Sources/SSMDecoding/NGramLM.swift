import Foundation
import SSMTensor

/// Errors of the decoding module's loaders (language model, `decoding.json`). Messages name the
/// ARPA line (1-based) or the file.
public enum LMError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file could not be read.
    case cannotRead(path: String, reason: String)
    /// The ARPA text is malformed at `line` (text given in memory, `NGramLM(arpa:)`).
    case syntax(line: Int, message: String)
    /// The ARPA file at `path` is malformed at `line`.
    case malformed(path: String, line: Int, message: String)
    /// A model's `decoding.json` could not be read or is invalid.
    case badSettings(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "cannot read language model '\(path)': \(reason)"
        case let .syntax(line, message): return "ARPA line \(line): \(message)"
        case let .malformed(path, line, message): return "invalid language model '\(path)': ARPA line \(line): \(message)"
        case let .badSettings(path, reason): return "cannot use decoding settings '\(path)': \(reason)"
        }
    }

    public var errorDescription: String? { description }

    /// The line the error refers to, if any.
    public var line: Int? {
        switch self {
        case let .syntax(line, _), let .malformed(_, line, _): return line
        default: return nil
        }
    }
}

/// A language-model context: the last (at most `order − 1`, at most 4) word ids, oldest first.
///
/// The scorer keeps only the longest suffix that the model knows as an n-gram (longer histories
/// cannot change any probability), so equal states mean equal futures. A plain value: no allocation.
public struct LMState: Hashable, Sendable, CustomStringConvertible {
    public private(set) var count: Int
    private var w0: Int32 = 0, w1: Int32 = 0, w2: Int32 = 0, w3: Int32 = 0

    public static let maxLength = 4

    /// The empty context (no history at all, not even `<s>`).
    public init() { count = 0 }

    /// A context from word ids, oldest first; only the last `maxLength` are kept.
    public init<S: Collection>(_ ids: S) where S.Element == Int32 {
        count = 0
        for id in ids.suffix(Self.maxLength) { append(id) }
    }

    public subscript(i: Int) -> Int32 {
        get {
            switch i {
            case 0: return w0
            case 1: return w1
            case 2: return w2
            default: return w3
            }
        }
        set {
            switch i {
            case 0: w0 = newValue
            case 1: w1 = newValue
            case 2: w2 = newValue
            default: w3 = newValue
            }
        }
    }

    /// Word ids, oldest first.
    public var ids: [Int32] { (0..<count).map { self[$0] } }

    mutating func append(_ id: Int32) {
        if count == Self.maxLength {
            w0 = w1; w1 = w2; w2 = w3; w3 = id
        } else {
            self[count] = id
            count += 1
        }
    }

    public var description: String { "LMState(\(ids))" }
}

/// A word n-gram language model (order 1 to 5) loaded from ARPA text, with backoff scoring.
///
/// Words get integer ids in the order of the `\1-grams:` section. N-grams of order ≥ 2 live in
/// open-addressing hash tables keyed by `(slot of the (n−1)-gram prefix, last word id)`, so lookups
/// are exact (no hash-collision approximations) and need no allocation. Prefixes that the ARPA file
/// omits are added as empty entries (probability "absent", backoff 1), as KenLM does.
/// Probabilities are stored as natural logarithms (`Float`).
public final class NGramLM: Sendable {
    /// Highest n-gram order.
    public let order: Int
    /// The vocabulary, indexed by word id.
    public let words: [String]
    /// Number of n-grams per order as listed in the file (index 0: unigrams).
    public let counts: [Int]
    /// Ids of `<s>`, `</s>` and `<unk>`. Missing ones are added: `<unk>` with log10 probability −100
    /// (KenLM's convention), `<s>` and `</s>` with −99.
    public let bos: Int32, eos: Int32, unk: Int32
    /// Whether the file itself listed `<unk>` (an open-vocabulary model).
    public let hasUnknownWord: Bool

    // Flat storage: unigrams at [0, V) indexed by word id, then one hash table per order ≥ 2.
    private let prob: [Float]
    private let backoff: [Float]
    private let keys: [UInt64]      // same indexing as prob/backoff; unigram part unused
    private let base: [Int]         // base[n] = start of order n in the flat arrays (base[1] = 0)
    private let shift: [UInt64]     // hash shift per order
    private let mask: [Int]
    // Vocabulary lookup by UTF-8 bytes.
    private let wordBytes: [UInt8]
    private let wordStart: [Int32]
    private let vocabTable: [Int32]
    // Hashes of every prefix of every word (for the beam search's out-of-vocabulary look-ahead).
    private let prefixTable: [UInt64]
    private let prefixShift: UInt64

    static let emptyKey = UInt64.max

    /// Loads an ARPA file. Errors name the file (and the line).
    public convenience init(contentsOf path: String) throws {
        let data: Data
        do { data = try InputFile.read(path, mapped: true) } catch let e as InputFile.Problem {
            throw LMError.cannotRead(path: path, reason: e.reason)
        }
        try self.init(data: data, path: path)
    }

    /// Parses ARPA bytes; `path` names the file in errors (`LMError.malformed`).
    public convenience init(data: Data, path: String) throws {
        let storage: ARPAStorage
        do {
            storage = try data.withUnsafeBytes { raw in
                var parser = ARPAParser(bytes: raw.bindMemory(to: UInt8.self))
                return try parser.parse()
            }
        } catch let LMError.syntax(line, message) {
            throw LMError.malformed(path: path, line: line, message: message)
        }
        self.init(storage)
    }

    /// Parses ARPA text.
    public convenience init(arpa text: String) throws {
        var text = text
        let storage = try text.withUTF8 { buf in
            var parser = ARPAParser(bytes: buf)
            return try parser.parse()
        }
        self.init(storage)
    }

    fileprivate init(_ s: ARPAStorage) {
        order = s.order; words = s.words; counts = s.counts
        bos = s.bos; eos = s.eos; unk = s.unk; hasUnknownWord = s.hasUnknownWord
        prob = s.prob; backoff = s.backoff; keys = s.keys; base = s.base; shift = s.shift; mask = s.mask
        wordBytes = s.wordBytes; wordStart = s.wordStart; vocabTable = s.vocabTable
        var prefixes = 0
        for i in 0..<s.words.count { prefixes += Int(s.wordStart[i + 1] - s.wordStart[i]) }
        var cap = 64
        while cap < prefixes * 2 { cap <<= 1 }
        let shift = UInt64(64 - cap.trailingZeroBitCount)
        var table = [UInt64](repeating: 0, count: cap)
        for i in 0..<s.words.count {
            var h = Self.prefixHashSeed
            for b in Int(s.wordStart[i])..<Int(s.wordStart[i + 1]) {
                h = Self.prefixHashStep(h, s.wordBytes[b])
                let key = h == 0 ? 1 : h
                var j = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
                while table[j] != 0 && table[j] != key { j = (j + 1) & (cap - 1) }
                table[j] = key
            }
        }
        prefixTable = table
        prefixShift = shift
    }

    // MARK: word-prefix look-ahead (used by the beam search)

    static let prefixHashSeed: UInt64 = 0xCBF2_9CE4_8422_2325

    /// FNV-1a step: the hash of a byte string is folded byte by byte from `prefixHashSeed`.
    @inline(__always)
    static func prefixHashStep(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }

    /// Whether some vocabulary word starts with the byte string of hash `h` (64-bit hashes: a false
    /// "yes" has probability ~ prefixes / 2⁶⁴).
    func isWordPrefix(hash h: UInt64) -> Bool {
        let key = h == 0 ? 1 : h
        let m = prefixTable.count - 1
        var j = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> prefixShift)
        while true {
            let k = prefixTable[j]
            if k == key { return true }
            if k == 0 { return false }
            j = (j + 1) & m
        }
    }

    public var vocabularySize: Int { words.count }

    /// The id of `word`, or nil when it is not in the vocabulary.
    public func wordId(_ word: String) -> Int32? {
        var w = word
        return w.withUTF8 { wordId(utf8: $0) }
    }

    /// The id of the word spelled by `utf8`, or nil when it is not in the vocabulary. No allocation.
    public func wordId(utf8: UnsafeBufferPointer<UInt8>) -> Int32? {
        let m = vocabTable.count - 1
        var i = Int(truncatingIfNeeded: fnv1a(utf8)) & m
        while true {
            let id = vocabTable[i]
            if id < 0 { return nil }
            let s = Int(wordStart[Int(id)]), e = Int(wordStart[Int(id) + 1])
            if e - s == utf8.count {
                var same = true
                for k in 0..<utf8.count where wordBytes[s + k] != utf8[k] { same = false; break }
                if same { return id }
            }
            i = (i + 1) & m
        }
    }

    /// The context at the start of a sentence (`<s>`).
    public var beginState: LMState { LMState([bos]) }

    /// The empty context.
    public var nullState: LMState { LMState() }

    /// A context from word ids (oldest first); only the last `order − 1` matter.
    public func state(history: [Int32]) -> LMState {
        LMState(history.suffix(max(0, order - 1)))
    }

    /// `ln P(word | history)` with the ARPA backoff rule.
    public func score(_ word: Int32, history: [Int32]) -> Float {
        score(word, state: state(history: history)).lnProb
    }

    /// `ln P(word | state)` and the context after `word` (the longest suffix known to the model).
    ///
    /// Word ids outside the vocabulary are scored as `<unk>`.
    public func score(_ word: Int32, state: LMState) -> (lnProb: Float, next: LMState) {
        let w = (word >= 0 && Int(word) < words.count) ? word : unk
        var bo: Float = 0
        var j = min(state.count, order - 1)
        while j >= 1 {
            // context = the last j words of the state
            let ctx = contextSlot(state, from: state.count - j, length: j)
            if ctx >= 0 {
                let e = find(order: j + 1, key: key(ctx - base[j], w))
                if e >= 0 {
                    let p = prob[e]
                    if !p.isNaN {
                        return (bo + p, nextState(state, from: state.count - j, length: j, word: w))
                    }
                }
                bo += backoff[ctx]
            }
            j -= 1
        }
        return (bo + prob[Int(w)], order > 1 ? LMState([w]) : LMState())
    }

    /// Total `ln P` of a word sequence, optionally starting with `<s>` and ending with `</s>`.
    public func sentenceLogProb(_ sentence: [String], bos useBos: Bool = true, eos useEos: Bool = true) -> Float {
        var st = useBos ? beginState : nullState
        var total: Float = 0
        for w in sentence {
            let r = score(wordId(w) ?? unk, state: st)
            total += r.lnProb
            st = r.next
        }
        if useEos { total += score(eos, state: st).lnProb }
        return total
    }

    // MARK: lookups

    /// The flat index of the n-gram made of `length` words of `state` starting at `from`, or −1.
    @inline(__always)
    private func contextSlot(_ state: LMState, from: Int, length: Int) -> Int {
        var slot = Int(state[from])
        var n = 2
        while n <= length {
            slot = find(order: n, key: key(slot - base[n - 1], state[from + n - 1]))
            if slot < 0 { return -1 }
            n += 1
        }
        return slot
    }

    @inline(__always)
    private func key(_ localContext: Int, _ word: Int32) -> UInt64 {
        (UInt64(UInt32(truncatingIfNeeded: localContext)) << 32) | UInt64(UInt32(bitPattern: word))
    }

    /// The flat index of `key` (local slot of the prefix in order n − 1, word) in the order-`n`
    /// table, or −1.
    @inline(__always)
    private func find(order n: Int, key: UInt64) -> Int {
        let b = base[n]
        let m = mask[n]
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift[n]) & m
        while true {
            let k = keys[b + i]
            if k == key { return b + i }
            if k == Self.emptyKey { return -1 }
            i = (i + 1) & m
        }
    }

    @inline(__always)
    private func nextState(_ state: LMState, from: Int, length j: Int, word: Int32) -> LMState {
        // matched n-gram: state[from ..< from + j] + word; keep at most order − 1 words
        var s = LMState()
        let keep = min(j + 1, order - 1)
        let skip = j + 1 - keep
        var i = from + skip
        while i < from + j { s.append(state[i]); i += 1 }
        if keep > 0 { s.append(word) }
        return s
    }
}

@inline(__always)
func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h ^ (h >> 29)
}

// MARK: - Parsing

fileprivate struct ARPAStorage {
    var order = 0
    var words: [String] = []
    var counts: [Int] = []
    var bos: Int32 = 0, eos: Int32 = 0, unk: Int32 = 0
    var hasUnknownWord = false
    var prob: [Float] = [], backoff: [Float] = [], keys: [UInt64] = []
    var base: [Int] = [], shift: [UInt64] = [], mask: [Int] = []
    var wordBytes: [UInt8] = [], wordStart: [Int32] = [], vocabTable: [Int32] = []
}

/// One open-addressing table of an order ≥ 2, keyed by (local slot of the prefix, word).
fileprivate struct Level {
    var keys: [UInt64]
    var prob: [Float]
    var backoff: [Float]
    var used = 0
    var shift: UInt64

    init(expected: Int) {
        var cap = 16
        while cap < expected * 2 { cap <<= 1 }   // load ≤ 0.5 when the declared count is right
        keys = [UInt64](repeating: NGramLM.emptyKey, count: cap)
        prob = [Float](repeating: 0, count: cap)
        backoff = [Float](repeating: 0, count: cap)
        shift = UInt64(64 - cap.trailingZeroBitCount)
    }

    var capacity: Int { keys.count }

    @inline(__always) func slot(_ key: UInt64) -> (Int, Bool) {
        let m = keys.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) & m
        while true {
            let k = keys[i]
            if k == key { return (i, true) }
            if k == NGramLM.emptyKey { return (i, false) }
            i = (i + 1) & m
        }
    }

    var isFull: Bool { (used + 1) * 4 > keys.count * 3 }   // keep load ≤ 0.75
}

fileprivate struct ARPAParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var lineNo = 0

    // vocabulary under construction
    var words: [String] = []
    var wordBytes: [UInt8] = []
    var wordStart: [Int32] = [0]
    var vocabTable = [Int32](repeating: -1, count: 1024)
    var uniProb: [Float] = [], uniBackoff: [Float] = []
    var levels: [Level] = []          // index 0 ↔ order 2
    var declared: [Int] = []
    var countLines: [Int] = []        // the line of each 'ngram N=count'
    var found: [Int] = []

    static let ln10 = Float(M_LN10)

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ message: String, line: Int? = nil) -> LMError { .syntax(line: line ?? lineNo, message: message) }

    mutating func parse() throws -> ARPAStorage {
        enum Section { case preamble, data, ngrams(Int), end }
        var section = Section.preamble
        var pos = 0
        let n = bytes.count
        var fields: [Range<Int>] = []
        fields.reserveCapacity(8)
        while pos < n {
            // next line
            var e = pos
            while e < n && bytes[e] != 10 { e += 1 }
            lineNo += 1
            let lineStart = pos
            var lineEnd = e
            pos = e + 1
            while lineEnd > lineStart && (bytes[lineEnd - 1] == 13 || bytes[lineEnd - 1] == 32 || bytes[lineEnd - 1] == 9) { lineEnd -= 1 }
            var s = lineStart
            while s < lineEnd && (bytes[s] == 32 || bytes[s] == 9) { s += 1 }
            if s == lineEnd { continue }   // blank line
            let line = s..<lineEnd

            switch section {
            case .preamble:
                if equals(line, "\\data\\") { section = .data }
            case .data:
                if starts(line, "ngram") {
                    let (o, c) = try parseCountLine(line)
                    guard o <= 5 else { throw error("order \(o) is not supported (at most 5)") }
                    guard o == declared.count + 1 else {
                        throw error("expected 'ngram \(declared.count + 1)=…', found 'ngram \(o)=…'")
                    }
                    declared.append(c)
                    countLines.append(lineNo)
                } else if let o = sectionHeader(line) {
                    guard !declared.isEmpty else { throw error("no 'ngram N=count' lines in \\data\\") }
                    guard o == 1 else { throw error("expected \\1-grams:, found \\\(o)-grams:") }
                    try checkDeclaredCounts()
                    try beginSection(1)
                    section = .ngrams(1)
                } else {
                    throw error("unexpected line in \\data\\ section: '\(text(line))'")
                }
            case .ngrams(let o):
                if bytes[line.lowerBound] == 92 /* \ */ {
                    guard found[o - 1] == declared[o - 1] else {
                        throw error("\\data\\ declares \(declared[o - 1]) \(o)-grams but the section has \(found[o - 1])")
                    }
                    if o == 1 { finishUnigrams() }
                    if equals(line, "\\end\\") {
                        guard o == declared.count else { throw error("\\end\\ before the \\\(o + 1)-grams: section") }
                        section = .end
                    } else if let next = sectionHeader(line) {
                        guard next == o + 1 else { throw error("expected \\\(o + 1)-grams:, found \\\(next)-grams:") }
                        guard next <= declared.count else {
                            throw error("\\\(next)-grams: is not declared in \\data\\ (expected \\end\\)")
                        }
                        try beginSection(next)
                        section = .ngrams(next)
                    } else {
                        throw error("unexpected line '\(text(line))'")
                    }
                } else {
                    try entry(line, order: o, fields: &fields)
                }
            case .end:
                break
            }
            if case .end = section { break }
        }
        switch section {
        case .end: break
        case .preamble: throw error("no \\data\\ header", line: max(lineNo, 1))
        default: throw error("unexpected end of file (missing \\end\\)", line: lineNo + 1)
        }
        return build()
    }

    // MARK: line helpers

    func equals(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<r.count where bytes[r.lowerBound + i] != p[i] { return false }
        return true
    }

    func starts(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count >= s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<s.utf8CodeUnitCount where bytes[r.lowerBound + i] != p[i] { return false }
        return true
    }

    func text(_ r: Range<Int>) -> String {
        let shown = r.lowerBound..<min(r.upperBound, r.lowerBound + 80)
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[shown]), as: UTF8.self)
    }

    /// `\N-grams:` → N
    func sectionHeader(_ r: Range<Int>) -> Int? {
        guard r.count >= 9, bytes[r.lowerBound] == 92 else { return nil }
        var i = r.lowerBound + 1
        var v = 0
        var digits = 0
        // (at most 1e9: a header with a hundred digits must not overflow; any order above 5 is refused)
        while i < r.upperBound, bytes[i] >= 48, bytes[i] <= 57 { v = min(v * 10 + Int(bytes[i] - 48), 1_000_000_000); i += 1; digits += 1 }
        guard digits > 0, equals(i..<r.upperBound, "-grams:") else { return nil }
        return v
    }

    func parseCountLine(_ r: Range<Int>) throws -> (Int, Int) {
        // "ngram N=C" with optional spaces around '='
        var i = r.lowerBound + 5
        func skipSpace() { while i < r.upperBound && (bytes[i] == 32 || bytes[i] == 9) { i += 1 } }
        func int() -> Int? {
            var v = 0, d = 0
            while i < r.upperBound, bytes[i] >= 48, bytes[i] <= 57, d < 18 { v = v * 10 + Int(bytes[i] - 48); i += 1; d += 1 }
            return d > 0 ? v : nil
        }
        skipSpace()
        guard let o = int() else { throw error("malformed count line '\(text(r))'") }
        skipSpace()
        guard i < r.upperBound, bytes[i] == 61 else { throw error("malformed count line '\(text(r))'") }
        i += 1
        skipSpace()
        guard let c = int(), i == r.upperBound else { throw error("malformed count line '\(text(r))'") }
        guard o >= 1 else { throw error("malformed count line '\(text(r))'") }
        return (o, c)
    }

    /// The counts of `\data\` against the file's size, before anything is reserved for them: an
    /// n-gram line takes at least 2·(n + 1) bytes (n + 1 one-byte fields, their separators and the
    /// newline), so a file cannot hold more. (`ngram 1=999999999999` used to reserve 4 TB.)
    func checkDeclaredCounts() throws {
        var needed = 0
        for (i, c) in declared.enumerated() {
            let (bytesFor, o1) = c.multipliedReportingOverflow(by: 2 * (i + 2))
            let (sum, o2) = needed.addingReportingOverflow(bytesFor)
            guard !o1, !o2, sum <= bytes.count else {
                throw error("\\data\\ declares \(c) \(i + 1)-grams, more than the \(bytes.count)-byte file can hold",
                            line: countLines[i])
            }
            needed = sum
        }
    }

    mutating func beginSection(_ o: Int) throws {
        found.append(0)
        if o == 1 {
            uniProb.reserveCapacity(declared[0] + 3)
            uniBackoff.reserveCapacity(declared[0] + 3)
            var cap = 1024
            while cap < (declared[0] + 3) * 2 { cap <<= 1 }
            vocabTable = [Int32](repeating: -1, count: cap)
        } else {
            levels.append(Level(expected: declared[o - 1]))
        }
    }

    /// Parses a number (decimal, optional exponent, or inf/-inf) into a Double.
    func number(_ r: Range<Int>) -> Double? {
        var i = r.lowerBound
        let end = r.upperBound
        guard i < end else { return nil }
        var negative = false
        if bytes[i] == 45 { negative = true; i += 1 } else if bytes[i] == 43 { i += 1 }
        if end - i >= 3 && (bytes[i] | 0x20) == 105 && (bytes[i + 1] | 0x20) == 110 && (bytes[i + 2] | 0x20) == 102 {
            let rest = end - i
            guard rest == 3 || rest == 8 else { return nil }   // inf, infinity
            return negative ? -.infinity : .infinity
        }
        var mant: UInt64 = 0
        var exp10 = 0
        var digits = 0
        var any = false
        while i < end, bytes[i] >= 48, bytes[i] <= 57 {
            if digits < 18 { mant = mant * 10 + UInt64(bytes[i] - 48); if mant > 0 { digits += 1 } } else { exp10 += 1 }
            i += 1; any = true
        }
        if i < end && bytes[i] == 46 {
            i += 1
            while i < end, bytes[i] >= 48, bytes[i] <= 57 {
                if digits < 18 { mant = mant * 10 + UInt64(bytes[i] - 48); exp10 -= 1; if mant > 0 { digits += 1 } }
                i += 1; any = true
            }
        }
        guard any else { return nil }
        if i < end && (bytes[i] == 101 || bytes[i] == 69) {
            i += 1
            var eneg = false
            if i < end && (bytes[i] == 45 || bytes[i] == 43) { eneg = bytes[i] == 45; i += 1 }
            var e = 0, ed = 0
            while i < end, bytes[i] >= 48, bytes[i] <= 57 { if e < 10000 { e = e * 10 + Int(bytes[i] - 48) }; i += 1; ed += 1 }
            guard ed > 0 else { return nil }
            exp10 += eneg ? -e : e
        }
        guard i == end else { return nil }
        var v = Double(mant)
        if exp10 != 0 {
            if exp10 > 0 && exp10 <= 22 { v *= Self.pow10[exp10] }
            else if exp10 < 0 && exp10 >= -22 { v /= Self.pow10[-exp10] }
            else { v *= pow(10, Double(exp10)) }
        }
        return negative ? -v : v
    }

    static let pow10: [Double] = (0...22).map { pow(10, Double($0)) }

    mutating func entry(_ r: Range<Int>, order o: Int, fields: inout [Range<Int>]) throws {
        fields.removeAll(keepingCapacity: true)
        var i = r.lowerBound
        while i < r.upperBound {
            while i < r.upperBound && (bytes[i] == 32 || bytes[i] == 9) { i += 1 }
            let s = i
            while i < r.upperBound && bytes[i] != 32 && bytes[i] != 9 { i += 1 }
            if i > s { fields.append(s..<i) }
        }
        guard fields.count == o + 1 || fields.count == o + 2 else {
            throw error("a \(o)-gram line needs \(o + 1) or \(o + 2) fields (log10 probability, \(o) word\(o == 1 ? "" : "s"), optional backoff), found \(fields.count): '\(text(r))'")
        }
        guard let lp = number(fields[0]) else { throw error("invalid probability '\(text(fields[0]))'") }
        var lbo = 0.0
        if fields.count == o + 2 {
            guard let b = number(fields[o + 1]) else { throw error("invalid backoff weight '\(text(fields[o + 1]))'") }
            lbo = b
        }
        if lp > 1e-4 { throw error("log10 probability \(lp) is positive") }
        let p = Float(lp) * Self.ln10, bo = Float(lbo) * Self.ln10
        guard bo.isFinite else { throw error("backoff weight \(lbo) is not a finite number") }
        found[o - 1] += 1
        if o == 1 {
            let w = fields[1]
            let buf = UnsafeBufferPointer(rebasing: bytes[w])
            if lookup(buf) != nil { throw error("duplicate unigram '\(text(w))'") }
            addWord(buf)
            uniProb.append(p)
            uniBackoff.append(bo)
            return
        }
        // word ids
        idScratch.removeAll(keepingCapacity: true)
        for k in 0..<o {
            guard let id = lookup(UnsafeBufferPointer(rebasing: bytes[fields[k + 1]])) else {
                throw error("word '\(text(fields[k + 1]))' is not in the \\1-grams: section")
            }
            idScratch.append(id)
        }
        let ids = idScratch
        let ctx = ensurePrefix(ids, length: o - 1)
        let key = (UInt64(UInt32(truncatingIfNeeded: ctx)) << 32) | UInt64(UInt32(bitPattern: ids[o - 1]))
        let li = o - 2
        if levels[li].isFull { grow(li) }
        let (slot, exists) = levels[li].slot(key)
        if exists {
            if levels[li].prob[slot].isNaN {   // cannot happen for a well-ordered file, but be safe
                levels[li].prob[slot] = p; levels[li].backoff[slot] = bo
                return
            }
            throw error("duplicate \(o)-gram '\(text(fields[1].lowerBound..<fields[o].upperBound))'")
        }
        levels[li].keys[slot] = key
        levels[li].prob[slot] = p
        levels[li].backoff[slot] = bo
        levels[li].used += 1
    }

    /// The local slot of the n-gram `ids[0..<length]` (a word id for length 1), inserting empty
    /// entries for missing prefixes.
    /// Growing a level changes only its own slots and those of the levels above, so the slots
    /// already found below stay valid.
    mutating func ensurePrefix(_ ids: [Int32], length: Int) -> Int {
        var slot = Int(ids[0])
        var n = 2
        while n <= length {
            let li = n - 2
            let key = (UInt64(UInt32(truncatingIfNeeded: slot)) << 32) | UInt64(UInt32(bitPattern: ids[n - 1]))
            var (s, exists) = levels[li].slot(key)
            if !exists {
                if levels[li].isFull {
                    grow(li)
                    (s, _) = levels[li].slot(key)
                }
                levels[li].keys[s] = key
                levels[li].prob[s] = .nan
                levels[li].backoff[s] = 0
                levels[li].used += 1
            }
            slot = s
            n += 1
        }
        return slot
    }

    var idScratch: [Int32] = []

    /// Doubles level `li` and re-keys the levels above it (their keys hold slots of the level below).
    mutating func grow(_ li: Int) {
        var remap = rehash(li, capacity: levels[li].capacity * 2, remapBelow: nil)
        var l = li + 1
        while l < levels.count {
            remap = rehash(l, capacity: levels[l].capacity, remapBelow: remap)
            l += 1
        }
    }

    mutating func rehash(_ li: Int, capacity: Int, remapBelow: [Int32]?) -> [Int32] {
        let old = levels[li]
        var new = Level(expected: capacity / 2)
        var remap = [Int32](repeating: -1, count: old.capacity)
        for i in 0..<old.capacity where old.keys[i] != NGramLM.emptyKey {
            var key = old.keys[i]
            if let rb = remapBelow {
                let ctx = Int(key >> 32)
                key = (UInt64(UInt32(bitPattern: rb[ctx])) << 32) | (key & 0xFFFF_FFFF)
            }
            let (s, _) = new.slot(key)
            new.keys[s] = key; new.prob[s] = old.prob[i]; new.backoff[s] = old.backoff[i]
            new.used += 1
            remap[i] = Int32(s)
        }
        levels[li] = new
        return remap
    }

    // MARK: vocabulary

    func lookup(_ w: UnsafeBufferPointer<UInt8>) -> Int32? {
        let m = vocabTable.count - 1
        var i = Int(truncatingIfNeeded: fnv1a(w)) & m
        while true {
            let id = vocabTable[i]
            if id < 0 { return nil }
            let s = Int(wordStart[Int(id)]), e = Int(wordStart[Int(id) + 1])
            if e - s == w.count {
                var same = true
                for k in 0..<w.count where wordBytes[s + k] != w[k] { same = false; break }
                if same { return id }
            }
            i = (i + 1) & m
        }
    }

    @discardableResult
    mutating func addWord(_ w: UnsafeBufferPointer<UInt8>) -> Int32 {
        if (words.count + 1) * 2 > vocabTable.count {   // more unigrams than declared
            var table = [Int32](repeating: -1, count: vocabTable.count * 2)
            let m = table.count - 1
            for id in 0..<words.count {
                let s = Int(wordStart[id]), e = Int(wordStart[id + 1])
                var i = wordBytes.withUnsafeBufferPointer { Int(truncatingIfNeeded: fnv1a(UnsafeBufferPointer(rebasing: $0[s..<e]))) } & m
                while table[i] >= 0 { i = (i + 1) & m }
                table[i] = Int32(id)
            }
            vocabTable = table
        }
        let id = Int32(words.count)
        words.append(String(decoding: w, as: UTF8.self))
        wordBytes.append(contentsOf: w)
        wordStart.append(Int32(wordBytes.count))
        let m = vocabTable.count - 1
        var i = Int(truncatingIfNeeded: fnv1a(w)) & m
        while vocabTable[i] >= 0 { i = (i + 1) & m }
        vocabTable[i] = id
        return id
    }

    var hasUnk = false

    mutating func finishUnigrams() {
        func ensure(_ s: String, log10Prob: Float) {
            var s = s
            s.withUTF8 { buf in
                if lookup(buf) == nil {
                    addWord(buf)
                    uniProb.append(log10Prob * Self.ln10)
                    uniBackoff.append(0)
                }
            }
        }
        hasUnk = id("<unk>") != nil
        ensure("<unk>", log10Prob: -100)
        ensure("<s>", log10Prob: -99)
        ensure("</s>", log10Prob: -99)
    }

    func id(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { lookup($0) }
    }

    func build() -> ARPAStorage {
        var st = ARPAStorage()
        st.order = declared.count
        st.counts = declared
        st.words = words
        st.bos = id("<s>") ?? 0; st.eos = id("</s>") ?? 0; st.unk = id("<unk>") ?? 0
        st.hasUnknownWord = hasUnk
        let v = words.count
        var total = v
        st.base = [0, 0]
        st.shift = [0, 0]
        st.mask = [0, 0]
        for l in levels {
            st.base.append(total)
            st.shift.append(l.shift)
            st.mask.append(l.capacity - 1)
            total += l.capacity
        }
        st.prob.reserveCapacity(total); st.backoff.reserveCapacity(total); st.keys.reserveCapacity(total)
        st.prob.append(contentsOf: uniProb); st.backoff.append(contentsOf: uniBackoff)
        st.keys.append(contentsOf: repeatElement(NGramLM.emptyKey, count: v))
        for l in levels {
            st.prob.append(contentsOf: l.prob); st.backoff.append(contentsOf: l.backoff); st.keys.append(contentsOf: l.keys)
        }
        st.wordBytes = wordBytes; st.wordStart = wordStart; st.vocabTable = vocabTable
        return st
    }
}
