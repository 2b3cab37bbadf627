import Foundation

/// Written text → spoken form (numbers, money, times, abbreviations … as words; case and sentence
/// punctuation kept).
///
/// This is a port of `expand` in `Training/data_recipe/normalize.py` (and everything it calls). The
/// synthesizer was trained on text normalised by that Python code, so this must produce the same
/// string, scalar for scalar, and **must stay in step with it**: change both together and re-export
/// `Tests/Fixtures/text_normalization.tsv` with `Training/tts/export_text_fixture.py`.
///
/// How the Python semantics are kept:
/// * Every pattern is written exactly as in the Python source and translated by ``PyRegex`` into ICU
///   syntax with Python 3 `re`'s Unicode meanings of `\w \W \b \d \s` (ICU's own `\w`, `\b` and `\s`
///   differ from Python's on marks, `No` numbers, U+200C/D and a few control characters).
/// * Substrings are cut by UTF-16 offsets (never by `Character`), so grapheme clusters that a
///   pattern splits (e.g. the keycap "1\u{FE0F}\u{20E3}") come out as in Python.
/// * Integers are decimal digit strings (``Natural``), since Python's `int` is unbounded.
/// * Digits are any Unicode `Nd` digit, as `\d` and `int()` accept them in Python.
///
/// Known differences (inputs on which the Python code raises, so nothing was trained on them):
/// a unit written with a dotless ı ("5 mı": Python's IGNORECASE matches it, then `_UNITS` raises
/// KeyError; here the unit is not matched) and integers longer than 4300 digits (Python's `int()`
/// refuses them; here they are read). Characters assigned after Unicode 14 (Python 3.11's database)
/// may be classified differently.
public enum TextNormalizer {
    /// `expand(text)`: the steps in the order the Python applies them.
    public static func expand(_ text: String) -> String {
        var t = asciiFold(text)
        // "St." is Saint before a capitalised name, Street otherwise.
        t = saint.replacing(t, with: "Saint")
        t = street.replacing(t, with: "Street")
        for (pattern, replacement) in abbreviations {
            t = pattern.replacing(t, with: replacement)
        }
        for (pattern, spell) in rules {
            t = pattern.sub(t, spell)
        }
        t = expandBareNumbers(t)
        // Leftover "a.m." / "P.M." not attached to a number.
        t = ampm.sub(t) { m in " " + (m[1] ?? m[2]!).lowercased() + " m " }
        t = mapScalars(t, symbolWords)
        // No space before sentence punctuation.
        t = spaceBeforePunctuation.sub(t) { m in m[1]! }
        // Collapse whitespace runs to one space, then strip.
        t = whitespace.replacing(t, with: " ")
        return trimSpaces(t)
    }

    // MARK: - Number words

    static let ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                       "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                       "nineteen"]
    static let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    /// (power of ten, name), largest first, as `_SCALES`.
    static let scales = [(12, "trillion"), (9, "billion"), (6, "million"), (3, "thousand")]
    static let irregularOrdinals = ["one": "first", "two": "second", "three": "third", "five": "fifth",
                                    "eight": "eighth", "nine": "ninth", "twelve": "twelfth"]

    static func below100(_ n: Int) -> String {
        if n < 20 { return ones[n] }
        let (t, o) = n.quotientAndRemainder(dividingBy: 10)
        return tens[t] + (o == 0 ? "" : " " + ones[o])
    }

    /// `_below_1000(n, use_and=False)` (expand never asks for "and").
    static func below1000(_ n: Int) -> String {
        let (h, r) = n.quotientAndRemainder(dividingBy: 100)
        var parts: [String] = []
        if h != 0 { parts.append(ones[h] + " hundred") }
        if r != 0 { parts.append(below100(r)) }
        return parts.joined(separator: " ")
    }

    /// `cardinal(n)`: 1234 → "one thousand two hundred thirty four"; above a trillion the count of
    /// trillions is itself read as a cardinal ("one thousand trillion").
    static func cardinal(_ n: Natural) -> String {
        if let small = n.intValue, small < 1000 {
            return small == 0 ? "zero" : below1000(small)
        }
        var parts: [String] = []
        var rest = n
        for (exponent, name) in scales where rest.digitCount > exponent {
            let (q, r) = rest.divMod(powerOfTen: exponent)
            parts.append(cardinal(q) + " " + name)
            rest = r
        }
        if !rest.isZero { parts.append(below1000(rest.intValue!)) }
        return parts.joined(separator: " ")
    }

    static func cardinal(_ n: Int) -> String { cardinal(Natural(n)) }

    /// `ordinal(n)`: 21 → "twenty first", 100 → "one hundredth".
    static func ordinal(_ n: Natural) -> String {
        var words = cardinal(n).split(separator: " ").map(String.init)
        let last = words.removeLast()
        if let irregular = irregularOrdinals[last] {
            words.append(irregular)
        } else if last.hasSuffix("y") {
            words.append(String(last.dropLast()) + "ieth")
        } else {
            words.append(last + "th")
        }
        return words.joined(separator: " ")
    }

    /// `year(n)`: 1984 "nineteen eighty four", 1900 "nineteen hundred", 2005 "two thousand five",
    /// 2019 "twenty nineteen", 1805 "eighteen oh five"; outside 1000...2099 a cardinal.
    static func year(_ n: Int) -> String {
        if n < 1000 || n > 2099 { return cardinal(n) }
        if (2000...2009).contains(n) { return cardinal(n) }
        let (hi, lo) = n.quotientAndRemainder(dividingBy: 100)
        if lo == 0 { return below100(hi) + " hundred" }
        if lo < 10 { return below100(hi) + " oh " + ones[lo] }
        return below100(hi) + " " + below100(lo)
    }

    /// `digits(s)`: digit by digit ("0" is "zero"); anything but digits is skipped.
    static func digits(_ s: String) -> String {
        s.unicodeScalars.compactMap { Natural.digitValue($0).map { ones[$0] } }.joined(separator: " ")
    }

    /// `_plural`: "nineteen eighty" → "nineteen eighties", "six" → "sixes".
    static func plural(_ words: String) -> String {
        if words.hasSuffix("y") { return String(words.dropLast()) + "ies" }
        if words.hasSuffix("x") || words.hasSuffix("s") { return words + "es" }
        return words + "s"
    }

    /// `_decimal`: "3", "14" → "three point one four" (commas in the integer part are ignored).
    static func decimal(_ intPart: String, _ frac: String) -> String {
        let head = intPart.isEmpty ? "zero" : cardinal(Natural(removingCommas(intPart)))
        return head + " point " + digits(frac)
    }

    // MARK: - Abbreviations (`_ABBREV`, `_SAINT`, `_STREET`, `_AMPM`)

    static let abbreviations: [(PyRegex, String)] = [
        (#"\bMrs\."#, "Missus"), (#"\bMr\."#, "Mister"), (#"\bMs\."#, "Miz"), (#"\bDr\."#, "Doctor"),
        (#"\bProf\."#, "Professor"), (#"\bJr\."#, "Junior"), (#"\bSr\."#, "Senior"),
        (#"\bCapt\."#, "Captain"), (#"\bGen\."#, "General"), (#"\bCol\."#, "Colonel"),
        (#"\bLt\."#, "Lieutenant"), (#"\bSgt\."#, "Sergeant"), (#"\bRev\."#, "Reverend"),
        (#"\bGov\."#, "Governor"), (#"\bSen\."#, "Senator"), (#"\bRep\."#, "Representative"),
        (#"\bPres\."#, "President"), (#"\bHon\."#, "Honorable"), (#"\bMt\."#, "Mount"),
        (#"\bFt\."#, "Fort"), (#"\bAve\."#, "Avenue"), (#"\bBlvd\."#, "Boulevard"), (#"\bRd\."#, "Road"),
        (#"\bInc\."#, "Incorporated"), (#"\bLtd\."#, "Limited"), (#"\bCorp\."#, "Corporation"),
        (#"\bCo\.(?=\s+[a-z]|,)"#, "Company"), (#"\bDept\."#, "Department"), (#"\bUniv\."#, "University"),
        (#"\bvs\.?(?=\s)"#, "versus"), (#"\betc\."#, "et cetera"), (#"\bet al\."#, "and others"),
        (#"\be\.g\."#, "for example"), (#"\bi\.e\."#, "that is"), (#"\bcf\."#, "compare"),
        (#"\bapprox\."#, "approximately"), (#"\bviz\."#, "namely"), (#"\besp\."#, "especially"),
        (#"\bca\.(?=\s*\d)"#, "circa"), (#"\bpp\.(?=\s*\d)"#, "pages"), (#"\bvol\.(?=\s*\d)"#, "volume"),
        (#"\b[Cc]h\.(?=\s*\d)"#, "chapter"), (#"\bPh\.\s?D\."#, "P H D"), (#"\bfig\.(?=\s*\d)"#, "figure"),
        (#"\bU\.\s?S\.\s?A\."#, "United States of America"), (#"\bU\.\s?S\."#, "United States"),
        (#"\bU\.\s?K\."#, "United Kingdom"), (#"\bU\.\s?N\."#, "United Nations"),
        (#"\bD\.\s?C\."#, "D C"), (#"\bA\.\s?D\."#, "A D"), (#"\bB\.\s?C\."#, "B C"),
        (#"\bJan\."#, "January"), (#"\bFeb\."#, "February"), (#"\bMar\.(?=\s+\d)"#, "March"),
        (#"\bApr\."#, "April"), (#"\bAug\."#, "August"), (#"\bSept?\."#, "September"),
        (#"\bOct\."#, "October"), (#"\bNov\."#, "November"), (#"\bDec\."#, "December"),
        (#"\bMon\."#, "Monday"), (#"\bTue?s?\."#, "Tuesday"), (#"\bWed\."#, "Wednesday"),
        (#"\bThu(?:rs)?\."#, "Thursday"), (#"\bFri\."#, "Friday"), (#"\bSat\."#, "Saturday"),
        (#"\bSun\."#, "Sunday"),
        (#"\bOK\b"#, "okay"), (#"\bTV\b"#, "T V"), (#"\bTV's\b"#, "T V's"), (#"\bI\.\s?Q\."#, "I Q"),
    ].map { (PyRegex($0.0), $0.1) }

    static let saint = PyRegex(#"\bSt\.(?=\s+[A-Z])"#)
    static let street = PyRegex(#"(?<=[a-z]\s)St\.|\bSt\."#)
    static let ampm = PyRegex(#"\b([ap])\.\s?m\.(?=\W|$)|\b([AP])\.M\.?(?=\W|$)"#)

    // MARK: - Units and currencies (`_UNITS`, `_UNIT_SINGULAR`, `_CURRENCY`)

    static let units = [
        "km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters",
        "mph": "miles per hour", "lbs": "pounds", "lb": "pounds", "oz": "ounces", "ft": "feet",
        "mi": "miles", "kph": "kilometers per hour", "mg": "milligrams", "ml": "milliliters",
        "hrs": "hours", "hr": "hours", "min": "minutes", "sec": "seconds", "in": "inches",
        "yds": "yards", "yd": "yards", "gal": "gallons", "m": "meters", "g": "grams", "l": "liters",
        "kb": "kilobytes", "mb": "megabytes", "gb": "gigabytes", "khz": "kilohertz",
        "mhz": "megahertz", "ghz": "gigahertz", "hz": "hertz", "kw": "kilowatts", "w": "watts",
    ]
    static let unitSingular = [
        "kilometers": "kilometer", "kilograms": "kilogram", "centimeters": "centimeter",
        "millimeters": "millimeter", "pounds": "pound", "ounces": "ounce", "feet": "foot",
        "miles": "mile", "milligrams": "milligram", "milliliters": "milliliter", "hours": "hour",
        "minutes": "minute", "seconds": "second", "inches": "inch", "yards": "yard",
        "gallons": "gallon", "meters": "meter", "grams": "gram", "liters": "liter",
        "kilobytes": "kilobyte", "megabytes": "megabyte", "gigabytes": "gigabyte",
        "kilowatts": "kilowatt", "watts": "watt",
    ]
    /// symbol → (one, many, one sub-unit, many sub-units)
    static let currencies: [String: (String, String, String, String)] = [
        "$": ("dollar", "dollars", "cent", "cents"),
        "£": ("pound", "pounds", "penny", "pence"),
        "€": ("euro", "euros", "cent", "cents"),
    ]
    static let scaleWords = "(thousand|million|billion|trillion)"

    /// `_money`: "$3.50" → "three dollars and fifty cents"; with a scale word "€1.5 million" →
    /// "one point five million euros". Cents are the first two fraction digits.
    static func money(_ symbol: String, _ rawAmount: String, _ scale: String?) -> String {
        let (one, many, sub1, subN) = currencies[symbol]!
        let amount = removingCommas(rawAmount)
        if let scale, !scale.isEmpty {
            if let (i, f) = splitOnce(amount, at: ".") { return "\(decimal(i, f)) \(scale) \(many)" }
            return "\(cardinal(Natural(amount))) \(scale) \(many)"
        }
        let i: Natural
        let f: Int
        if let (ip, fp) = splitOnce(amount, at: ".") {
            i = ip.isEmpty ? Natural(0) : Natural(ip)
            f = fp.isEmpty ? 0 : Natural(String(String.UnicodeScalarView((fp + "0").unicodeScalars.prefix(2)))).intValue!
        } else {
            i = Natural(amount)
            f = 0
        }
        var parts: [String] = []
        if !i.isZero || f == 0 { parts.append("\(cardinal(i)) \(i.intValue == 1 ? one : many)") }
        if f != 0 { parts.append("\(cardinal(f)) \(f == 1 ? sub1 : subN)") }
        return parts.joined(separator: " and ")
    }

    /// `_time`: "10:30" → "ten thirty", "7:05" → "seven oh five", "9:00" → "nine o'clock" (no
    /// "o'clock" when a.m./p.m. follows, which is read "a m" / "p m").
    static func time(_ h: String, _ m: String, _ ampm: String?) -> String {
        let hh = Natural(h).intValue!, mm = Natural(m).intValue!
        var words: String
        if mm == 0 {
            words = cardinal(hh) + (ampm != nil ? "" : " o'clock")
        } else if mm < 10 {
            words = cardinal(hh) + " oh " + cardinal(mm)
        } else {
            words = cardinal(hh) + " " + cardinal(mm)
        }
        if let ampm { words += " " + String(ampm.prefix(1)).lowercased() + " m" }
        return words
    }

    /// `_decade_words`: ("19", "8") → "nineteen eighties", (nil, "8") → "eighties",
    /// ("20", "0") → "two thousands", ("18", "0") → "eighteen hundreds".
    static func decadeWords(_ century: String?, _ tensDigit: String) -> String {
        let t = Natural(tensDigit).intValue!
        guard let century else { return t == 1 ? "tens" : plural(tens[t]) }
        let c = Natural(century).intValue!
        if t == 0 { return c == 20 ? "two thousands" : below100(c) + " hundreds" }
        return below100(c) + " " + (t == 1 ? "tens" : plural(tens[t]))
    }

    // MARK: - Rules (`_RULES`, applied in this order)

    static let rules: [(PyRegex, @Sendable (PyMatch) -> String)] = [
        // Money: "$3.50", "£20", "€1.5 million".
        (PyRegex(#"([$£€])\s?(\d[\d,]*(?:\.\d+)?)(?:\s+"# + scaleWords + #"\b)?"#), { m in
            " " + money(m[1]!, m[2]!, m[3]) + " "
        }),
        // Phone numbers: "(555) 123-4567", "555-123-4567", "123-4567" → digit groups.
        (PyRegex(#"(?<![\d-])(?:\(?(\d{3})\)?[-. ])?(\d{3})-(\d{4})\b"#), { m in
            " " + (1...3).compactMap { m[$0] }.filter { !$0.isEmpty }.map(digits).joined(separator: ", ") + " "
        }),
        // Clock times: "10:30", "7:05 p.m."; impossible times read as two numbers.
        (PyRegex(#"\b(\d{1,2}):(\d{2})\s*(?:([ap])\.?\s?m\b\.?|([AP])\.?M\b\.?)?"#), { m in
            let ampm = m[3] ?? m[4]
            let h = Natural(m[1]!), mm = Natural(m[2]!)
            if h.intValue! > 24 || mm.intValue! > 59 {
                return " " + cardinal(h) + " " + cardinal(mm) + " "
            }
            return " " + time(m[1]!, m[2]!, ampm) + " "
        }),
        // Hours with a.m./p.m.: "7am", "5 p.m.".
        (PyRegex(#"\b(\d{1,2})\s*([ap])\.?\s?m\b\.?|\b(\d{1,2})\s*([AP])\.?M\b\.?"#), { m in
            let h = m[1] ?? m[3]!
            let ap = m[2] ?? m[4]!
            return " \(cardinal(Natural(h))) \(ap.lowercased()) m "
        }),
        // Ordinals: "1st", "23rd", "101st" (the suffix is not checked: "1th" is "first").
        (PyRegex(#"\b(\d+)(st|nd|rd|th)\b"#, ignoreCase: true), { m in
            " " + ordinal(Natural(m[1]!)) + " "
        }),
        // Decades with century: "1990s", "1800s", "2000's".
        (PyRegex(#"\b(1[0-9]|20)(\d)0'?s\b"#), { m in
            " " + decadeWords(m[1]!, m[2]!) + " "
        }),
        // Short decades: "'80s", "60s".
        (PyRegex(#"(?:'|\b)([2-9])0'?s\b"#), { m in
            " " + decadeWords(nil, m[1]!) + " "
        }),
        // Percentages: "10%", "-2.5 %".
        (PyRegex(#"(-?\d[\d,]*(?:\.\d+)?)\s?%"#), { m in
            var tok = m[1]!
            let negative = tok.hasPrefix("-")
            if negative { tok.removeFirst() }
            let w: String
            if let (i, f) = splitOnce(tok, at: ".") {
                w = decimal(i, f)
            } else {
                w = cardinal(Natural(removingCommas(tok)))
            }
            return " " + (negative ? "minus " : "") + w + " percent "
        }),
        // Fractions: "3/4" → "three quarters", "1/3" → "one third"; large ones "a slash b".
        (PyRegex(#"\b(\d+)/(\d+)\b"#), { m in
            let a = Natural(m[1]!), b = Natural(m[2]!)
            if b.isZero || b.exceeds(100) || a.exceeds(100) {
                return " \(cardinal(a)) slash \(cardinal(b)) "
            }
            let den: String
            if b.intValue == 2 {
                den = a.intValue == 1 ? "half" : "halves"
            } else if b.intValue == 4 {
                den = a.intValue == 1 ? "quarter" : "quarters"
            } else {
                den = a.intValue == 1 ? ordinal(b) : plural(ordinal(b))
            }
            return " \(cardinal(a)) \(den) "
        }),
        // Year ranges: "1990-1995", "1990-95" → "nineteen ninety to nineteen ninety five".
        (PyRegex(#"\b(\d{4})\s?[-–]\s?(\d{2,4})\b"#), { m in
            let a = Natural(m[1]!).intValue!
            var b = m[2]!
            if !(1000...2099).contains(a) {
                return " \(cardinal(a)) to \(cardinal(Natural(b))) "
            }
            if b.unicodeScalars.count == 2 { b = String(a / 100) + b }
            return " \(year(a)) to \(year(Natural(b).intValue!)) "
        }),
        // Units: "5km", "3.5 kg", "1 lb" (singular for exactly one).
        (PyRegex(#"\b(\d+(?:\.\d+)?)\s?(km|kg|cm|mm|mph|lbs?|oz|ft|mi|kph|mg|ml|hrs?|yds?|gal|kb|mb|gb|khz|mhz|ghz|hz|kw)\b"#,
                 ignoreCase: true), { m in
            let num = m[1]!
            let unit = units[m[2]!.lowercased()]!
            if let (i, f) = splitOnce(num, at: ".") { return " \(decimal(i, f)) \(unit) " }
            let n = Natural(num)
            return " \(cardinal(n)) \(n.intValue == 1 ? unitSingular[unit] ?? unit : unit) "
        }),
        // "#1" → "number one".
        (PyRegex(#"#\s?(\d+)"#), { m in " number " + cardinal(Natural(m[1]!)) + " " }),
        // "No. 5" → "number five".
        (PyRegex(#"\bNo\.\s?(\d+)"#), { m in " number " + cardinal(Natural(m[1]!)) + " " }),
        // A minus sign before a digit that does not follow a word or a period: "-5" → "minus 5".
        (PyRegex(#"(?<![\w.])-(\d)"#), { m in " minus " + m[1]! }),
    ]

    // MARK: - Bare numbers (`_expand_bare_numbers`, `_number_token`)

    static let number = PyRegex(#"\d[\d,]*(?:\.\d+)?"#)
    static let wellFormedNumber = PyRegex(#"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?"#, fullMatch: true)
    static let digitRun = PyRegex(#"\d+"#)
    static let wordBefore = PyRegex(#"([A-Za-z']+)\W*$"#)
    /// After these a four-digit number 1100...2099 is a quantity, not a year.
    static let notYearAfter: Set<String> = ["the", "of", "about", "over", "than", "only", "some", "nearly"]
    /// After these a four-digit number 1000...2099 is a year.
    static let yearAfter: Set<String> = ["in", "since", "year", "until", "till", "by", "from", "during", "before",
                                         "after", "circa"]
    /// After these a long digit string is a quantity, not digits to spell.
    static let notDigitsAfter: Set<String> = ["the", "of", "about", "over", "than", "some"]

    /// `_number_token`: a bare integer or decimal in context.
    static func numberToken(_ tok: String, previousWord: String) -> String {
        if let (i, f) = splitOnce(tok, at: ".") { return decimal(i, f) }
        if tok.unicodeScalars.contains(",") { return cardinal(Natural(removingCommas(tok))) }
        let n = Natural(tok)
        let length = tok.unicodeScalars.count
        // Leading zero: digit by digit ("007").
        if tok.unicodeScalars.first == "0" && length > 1 { return digits(tok) }
        let pw = previousWord.lowercased()
        if length == 4, let v = n.intValue, (1100...2099).contains(v), !notYearAfter.contains(pw) {
            return year(v)
        }
        if length == 4, yearAfter.contains(pw), let v = n.intValue, (1000...2099).contains(v) {
            return year(v)
        }
        // Long digit strings without separators (phone, account, zip): digit by digit.
        if length >= 6, !notDigitsAfter.contains(pw) { return digits(tok) }
        return cardinal(n)
    }

    /// `_expand_bare_numbers`: every number left over, read by ``numberToken`` with the word before it
    /// (taken from the text before any of these replacements). Trailing commas stay in the text;
    /// malformed groupings like "1,2,3" are read part by part.
    static func expandBareNumbers(_ text: String) -> String {
        let ns = NSString(string: text)
        var out = ""
        var pos = 0
        for m in number.matches(in: text) {
            var tok = m[0]!
            var tokLength = m.range.length  // UTF-16 units; digits, commas and periods are one each
            while tok.unicodeScalars.last == "," {
                tok.unicodeScalars.removeLast()
                tokLength -= 1
            }
            // (Python also drops a trailing "." here, which the pattern can never produce.)
            let words: String
            if !wellFormedNumber.fullMatches(tok) {
                words = digitRun.matches(in: tok).map { numberToken($0[0]!, previousWord: "") }
                    .joined(separator: " , ")
            } else {
                // Only the last 256 UTF-16 units before the number are searched: on the whole prefix the
                // search is quadratic (a 5 000-letter word took seconds; found by fuzzing). The result
                // differs from Python's only for a word longer than the window, which then ends up
                // truncated but is, either way, in none of the context-word sets `numberToken` checks.
                let start = max(0, m.range.location - 256)
                let before = ns.substring(with: NSRange(location: start, length: m.range.location - start))
                let previous = wordBefore.firstMatch(in: before)?[1] ?? ""
                words = numberToken(tok, previousWord: previous)
            }
            out += ns.substring(with: NSRange(location: pos, length: m.range.location - pos))
            out += " " + words + " "
            pos = m.range.location + tokLength
        }
        out += ns.substring(from: pos)
        return out
    }

    // MARK: - Characters (`_UNICODE_MAP`, `_ascii_fold`, the symbol words)

    static let unicodeMap: [Unicode.Scalar: String] = [
        "\u{2018}": "'", "\u{2019}": "'", "\u{02BC}": "'", "`": "'", "\u{00B4}": "'",
        "\u{201C}": "\"", "\u{201D}": "\"", "\u{2013}": " - ", "\u{2014}": " - ", "\u{2026}": "...",
        "\u{00A0}": " ", "\u{00BD}": " 1/2 ", "\u{00BC}": " 1/4 ", "\u{00BE}": " 3/4 ",
    ]
    static let symbolWords: [Unicode.Scalar: String] = ["&": " and ", "+": " plus ", "=": " equals ", "@": " at "]

    /// `_ascii_fold`: quotes, dashes and vulgar fractions mapped, then NFKD with combining marks
    /// (canonical combining class ≠ 0) removed: "café" → "cafe", "ﬁ" → "fi", "²" → "2".
    static func asciiFold(_ text: String) -> String {
        let mapped = mapScalars(text, unicodeMap)
        let decomposed = mapped.decomposedStringWithCompatibilityMapping
        var out = String.UnicodeScalarView()
        for s in decomposed.unicodeScalars where s.properties.canonicalCombiningClass.rawValue == 0 {
            out.append(s)
        }
        return String(out)
    }

    static let spaceBeforePunctuation = PyRegex(#"\s+([,.;:!?])"#)
    static let whitespace = PyRegex(#"\s+"#)

    // MARK: - String helpers (scalar-exact; Swift's `Character` comparisons would merge clusters)

    static func mapScalars(_ text: String, _ table: [Unicode.Scalar: String]) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if let r = table[s] { out.append(contentsOf: r.unicodeScalars) } else { out.append(s) }
        }
        return String(out)
    }

    static func removingCommas(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.filter { $0 != "," }))
    }

    /// Python `s.split(sep, 1)` when `sep` occurs, else nil.
    static func splitOnce(_ s: String, at separator: Unicode.Scalar) -> (String, String)? {
        let scalars = s.unicodeScalars
        guard let i = scalars.firstIndex(of: separator) else { return nil }
        return (String(scalars[..<i]), String(scalars[scalars.index(after: i)...]))
    }

    static func trimSpaces(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " }),
              let last = scalars.lastIndex(where: { $0 != " " }) else { return "" }
        return String(scalars[first...last])
    }
}

// MARK: - Unbounded natural numbers

/// A non-negative integer as decimal digits (most significant first, no leading zeros; zero is
/// empty): Python's `int` is unbounded and the normaliser reads any digit string.
struct Natural: Sendable, Equatable {
    private(set) var digits: [UInt8]

    /// Python `int(s)` for a string of Unicode decimal digits (`\d`).
    init(_ s: String) {
        var d: [UInt8] = []
        for scalar in s.unicodeScalars {
            guard let v = Natural.digitValue(scalar) else { preconditionFailure("not a digit: \(scalar)") }
            if d.isEmpty && v == 0 { continue }
            d.append(UInt8(v))
        }
        digits = d
    }

    init(_ n: Int) {
        precondition(n >= 0)
        self.init(String(n))
    }

    private init(digits: [UInt8]) {
        var d = digits[...]
        while d.first == 0 { d.removeFirst() }
        self.digits = Array(d)
    }

    /// The value of a Unicode `Nd` digit, as Python's `int()` reads it.
    static func digitValue(_ s: Unicode.Scalar) -> Int? {
        if s.isASCII { return ("0"..."9").contains(s) ? Int(s.value) - 48 : nil }
        guard s.properties.numericType == .decimal, let v = s.properties.numericValue else { return nil }
        return Int(v)
    }

    var isZero: Bool { digits.isEmpty }
    var digitCount: Int { digits.count }

    /// The value when it fits comfortably in an `Int`.
    var intValue: Int? {
        guard digits.count <= 18 else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1) }
    }

    func exceeds(_ n: Int) -> Bool { intValue.map { $0 > n } ?? true }

    /// `divmod(self, 10 ** k)`.
    func divMod(powerOfTen k: Int) -> (Natural, Natural) {
        guard digits.count > k else { return (Natural(digits: []), self) }
        let split = digits.count - k
        return (Natural(digits: Array(digits[..<split])), Natural(digits: Array(digits[split...])))
    }
}

// MARK: - Python `re` patterns on ICU

/// A regular expression written in Python 3 `re` syntax, compiled for `NSRegularExpression` with
/// Python's Unicode meanings: `\w` = `[\p{L}\p{N}_]` (str.isalnum() or "_"), `\d` = `\p{Nd}`,
/// `\s` = the characters of str.isspace(), `\b` = a change between `\w` and `\W` (ICU's `\b` skips
/// combining marks; its `\w` includes marks, not `No`). Only the constructs the normaliser uses are
/// translated; others are passed through unchanged.
struct PyRegex: @unchecked Sendable {  // NSRegularExpression is immutable and thread-safe
    let regex: NSRegularExpression

    static let word = #"\p{L}\p{N}_"#
    static let space = #"\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"#

    /// `fullMatch`: the pattern must span the whole string (for Python's `re.fullmatch`).
    init(_ pattern: String, ignoreCase: Bool = false, fullMatch: Bool = false) {
        let body = PyRegex.translate(pattern)
        let translated = fullMatch ? #"\A(?:"# + body + #")\z"# : body
        do {
            regex = try NSRegularExpression(pattern: translated, options: ignoreCase ? [.caseInsensitive] : [])
        } catch {
            preconditionFailure("bad pattern \(pattern) → \(translated): \(error)")
        }
    }

    static func translate(_ pattern: String) -> String {
        let w = "[\(word)]", notW = "[^\(word)]"
        var out = ""
        var inClass = false
        var it = pattern.unicodeScalars.makeIterator()
        while let c = it.next() {
            switch c {
            case "\\":
                guard let e = it.next() else { preconditionFailure("trailing backslash") }
                switch (e, inClass) {
                case ("d", _): out += #"\p{Nd}"#
                case ("w", false): out += w
                case ("w", true): out += word
                case ("W", false): out += notW
                case ("s", false): out += "[\(space)]"
                case ("s", true): out += space
                case ("b", false): out += "(?:(?<=\(w))(?!\(w))|(?<!\(w))(?=\(w)))"
                case ("W", true), ("b", true), ("S", _), ("D", _), ("B", _):
                    preconditionFailure("untranslated escape \\\(e) in \(pattern)")
                default: out += "\\" + String(e)
                }
            case "[" where inClass:
                preconditionFailure("nested [ in class: \(pattern)")  // ICU would read a nested set
            case "[":
                inClass = true
                out += "["
            case "]" where inClass:
                inClass = false
                out += "]"
            default:
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    func matches(in text: String) -> [PyMatch] {
        let ns = NSString(string: text)
        return regex.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { PyMatch(ns: ns, result: $0) }
    }

    /// `re.search`.
    func firstMatch(in text: String) -> PyMatch? {
        let ns = NSString(string: text)
        return regex.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)).map { PyMatch(ns: ns, result: $0) }
    }

    /// `re.fullmatch(...) is not None`; needs a regex made with `fullMatch: true`.
    func fullMatches(_ text: String) -> Bool { firstMatch(in: text) != nil }

    /// `re.sub(pattern, fn, text)`.
    func sub(_ text: String, _ replacement: (PyMatch) -> String) -> String {
        let ns = NSString(string: text)
        let found = regex.matches(in: text, range: NSRange(location: 0, length: ns.length))
        if found.isEmpty { return text }
        var out = ""
        var pos = 0
        for r in found {
            out += ns.substring(with: NSRange(location: pos, length: r.range.location - pos))
            out += replacement(PyMatch(ns: ns, result: r))
            pos = r.range.location + r.range.length
        }
        out += ns.substring(from: pos)
        return out
    }

    /// `re.sub(pattern, literal, text)`.
    func replacing(_ text: String, with literal: String) -> String { sub(text) { _ in literal } }
}

/// One match: `m[i]` is group i, nil when the group did not take part (Python's None).
struct PyMatch {
    let ns: NSString
    let result: NSTextCheckingResult

    var range: NSRange { result.range }

    subscript(_ i: Int) -> String? {
        let r = result.range(at: i)
        return r.location == NSNotFound ? nil : ns.substring(with: r)
    }
}
