import PeernetProtocol

/// A word and its search-index key: BLAKE3 of the lower-cased word.
public struct SearchWord: Hashable, Sendable {
    public let word: String
    public let hash: Hash256
}

/// A parsed search term (data.md §6.5).
public struct SearchTerm: Sendable, Equatable {
    public let sanitized: String
    /// The term was wrapped in double or single quotes: only the whole term is looked up.
    public let isExact: Bool
    /// Contains '*' (detected; wildcards are not supported, as in the reference).
    public let isWildcard: Bool
    /// The whole term's key, looked up first (nil when shorter than 3 bytes).
    public let exact: SearchWord?
    /// The other words' keys (empty in exact mode).
    public let words: [SearchWord]

    public var allKeys: [SearchWord] { (exact.map { [$0] } ?? []) + words }
}

/// Text normalisation, word splitting and word hashing exactly as the reference search index
/// does it (data.md §6.2-6.3), so that keys match between implementations.
public enum SearchText {
    /// Drops invalid UTF-8 (each invalid byte, as Go's ToValidUTF8 with an empty replacement)
    /// and trims white space. Case is kept so CamelCase can be split later.
    public static func sanitize(_ bytes: [UInt8]) -> String {
        var valid: [UInt8] = []
        valid.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let n = wellFormedLength(bytes, at: i)
            if n > 0 {
                valid += bytes[i..<(i + n)]
                i += n
            } else {
                i += 1
            }
        }
        return trimSpace(String(decoding: valid, as: UTF8.self))
    }

    public static func sanitize(_ text: String) -> String { trimSpace(text) }

    /// Length of the well-formed UTF-8 sequence at `i` (Unicode table 3-7), or 0.
    static func wellFormedLength(_ b: [UInt8], at i: Int) -> Int {
        let c = b[i]
        func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < b.count && b[j] >= lo && b[j] <= hi }
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(i + 1) ? 2 : 0
        case 0xE0: return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(i + 1) && cont(i + 2) ? 3 : 0
        case 0xED: return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0
        case 0xF0: return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF4: return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0
        default: return 0
        }
    }

    /// ASCII answers without Unicode's property tables (the same answer: tab to carriage
    /// return and space); indexing a 10,000-file chain spent a fifth of its time in them.
    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.isASCII ? (s.value == 32 || (s.value >= 9 && s.value <= 13)) : s.properties.isWhitespace
    }

    public static func trimSpace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let start = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = scalars.lastIndex(where: { !isSpace($0) })!
        // Nothing to trim (the usual case): the text itself, not a copy.
        if start == scalars.startIndex && scalars.index(after: end) == scalars.endIndex { return text }
        return String(scalars[start...end])
    }

    /// Simple per-scalar lower-casing (Go's strings.ToLower): no locale, no context. Where
    /// Unicode's full mapping has several scalars (only U+0130 İ), the first one is taken.
    public static func lowercase(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            guard text.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) else { return text }
            return String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
        }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if s.isASCII {
                out.append(s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                out.append(s.properties.lowercaseMapping.unicodeScalars.first ?? s)
            }
        }
        return String(out)
    }

    /// Splits CamelCase: cuts between lower-case letters, upper-case letters, digits and other
    /// characters; an upper-case run followed by lower-case gives up its last letter.
    public static func camelCaseSplit(_ text: String) -> [String] {
        func cls(_ s: Unicode.Scalar) -> Int {
            if s.isASCII {
                switch s.value {
                case 97...122: return 1
                case 65...90: return 2
                case 48...57: return 3
                default: return 4
                }
            }
            switch s.properties.generalCategory {
            case .lowercaseLetter: return 1
            case .uppercaseLetter: return 2
            case .decimalNumber: return 3
            default: return 4
            }
        }
        var runs: [[Unicode.Scalar]] = []
        var last = 0
        for s in text.unicodeScalars {
            let c = cls(s)
            if c == last, !runs.isEmpty { runs[runs.count - 1].append(s) } else { runs.append([s]) }
            last = c
        }
        if runs.count > 1 {
            for i in 0..<(runs.count - 1) where !runs[i].isEmpty && !runs[i + 1].isEmpty {
                if cls(runs[i][0]) == 2 && cls(runs[i + 1][0]) == 1 {
                    runs[i + 1].insert(runs[i].removeLast(), at: 0)
                }
            }
        }
        return runs.filter { !$0.isEmpty }.map { run in
            var v = String.UnicodeScalarView()
            v.append(contentsOf: run)
            return String(v)
        }
    }

    static let separators: Set<Unicode.Scalar> = Set("+-._()[],–".unicodeScalars)

    /// The words of a text: split at white space and `+-._()[],–`, one leading '#' removed,
    /// each word followed by its CamelCase parts that differ from it.
    public static func words(_ text: String) -> [String] {
        text.utf8.allSatisfy({ $0 < 0x80 }) ? asciiWords(Array(text.utf8)) : scalarWords(text)
    }

    /// `words` scalar by scalar (any text; ASCII takes `asciiWords`, with the same result).
    static func scalarWords(_ text: String) -> [String] {
        var fields: [String] = []
        var current = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if isSpace(s) || separators.contains(s) {
                if !current.isEmpty { fields.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { fields.append(String(current)) }
        var out: [String] = []
        for var word in fields {
            if word.hasPrefix("#") { word.removeFirst() }
            out.append(word)
            for part in camelCaseSplit(word) where part != word { out.append(part) }
        }
        return out
    }

    /// `words` of ASCII text, on its bytes: the same words, without building a string per
    /// character (indexing a synced chain spent three quarters of its catalog time in `words`,
    /// `camelCaseSplit` and `hashWord`; perf).
    static func asciiWords(_ text: [UInt8]) -> [String] {
        @inline(__always) func isSeparator(_ b: UInt8) -> Bool {
            switch b {
            case 9...13, 32, 40, 41, 43, 44, 45, 46, 91, 93, 95: return true  // space, ( ) + , - . [ ] _
            default: return false
            }
        }
        @inline(__always) func cls(_ b: UInt8) -> Int {
            switch b {
            case 97...122: return 1
            case 65...90: return 2
            case 48...57: return 3
            default: return 4
            }
        }
        var out: [String] = []
        var i = 0
        while i < text.count {
            while i < text.count && isSeparator(text[i]) { i += 1 }
            var end = i
            while end < text.count && !isSeparator(text[end]) { end += 1 }
            guard end > i else { break }
            let start = text[i] == UInt8(ascii: "#") ? i + 1 : i
            out.append(String(decoding: text[start..<end], as: UTF8.self))
            // CamelCase parts as ranges; an upper-case run followed by lower-case gives its last
            // letter to that run (camelCaseSplit).
            var runs: [Range<Int>] = []
            var k = start
            while k < end {
                var m = k + 1
                while m < end && cls(text[m]) == cls(text[k]) { m += 1 }
                runs.append(k..<m)
                k = m
            }
            if runs.count > 1 {
                for r in 0..<(runs.count - 1) where !runs[r].isEmpty && !runs[r + 1].isEmpty {
                    if cls(text[runs[r].lowerBound]) == 2 && cls(text[runs[r + 1].lowerBound]) == 1 {
                        runs[r] = runs[r].lowerBound..<(runs[r].upperBound - 1)
                        runs[r + 1] = (runs[r + 1].lowerBound - 1)..<runs[r + 1].upperBound
                    }
                }
                for run in runs where !run.isEmpty && run != start..<end {
                    out.append(String(decoding: text[run], as: UTF8.self))
                }
            }
            i = end
        }
        return out
    }

    /// The index key of a word: lower-cased and trimmed; nil below 3 UTF-8 bytes.
    public static func hashWord(_ word: String) -> SearchWord? {
        normalizedWord(word).map { SearchWord(word: $0, hash: Hash256.blake3(Array($0.utf8))) }
    }

    /// A word as it is indexed and looked up: lower-cased and trimmed; nil when shorter than
    /// 3 bytes.
    public static func normalizedWord(_ word: String) -> String? {
        if word.utf8.allSatisfy({ $0 < 0x80 }) { return asciiNormalizedWord(word) }
        let w = trimSpace(lowercase(word))
        return w.utf8.count >= 3 ? w : nil
    }

    /// `normalizedWord` of ASCII text, on bytes.
    static func asciiNormalizedWord(_ word: String) -> String? {
        var bytes = word.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        @inline(__always) func isSpace(_ b: UInt8) -> Bool { b == 32 || (b >= 9 && b <= 13) }
        while let last = bytes.last, isSpace(last) { bytes.removeLast() }
        let lead = bytes.prefix { isSpace($0) }.count
        if lead > 0 { bytes.removeFirst(lead) }
        guard bytes.count >= 3 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The name without its last extension (Go's path.Ext rule, on bytes as Go's is: a '.'
    /// or '/' byte is never part of a longer UTF-8 sequence).
    public static func removeExtension(_ name: String) -> String {
        guard let dot = extensionDot(name) else { return name }
        return String(name.utf8[..<dot])!
    }

    /// Where the last extension's dot is: the last '.' after the last '/'.
    static func extensionDot(_ name: String) -> String.Index? {
        let utf8 = name.utf8
        let afterSlash = utf8.lastIndex(of: UInt8(ascii: "/")).map { utf8.index(after: $0) } ?? utf8.startIndex
        return utf8[afterSlash...].lastIndex(of: UInt8(ascii: "."))
    }

    /// The keys a file is indexed under (data.md §6.3). Inputs are sanitized first.
    public static func indexWords(name: String, folder: String, description: String) -> Set<SearchWord> {
        hashed(indexTexts(name: name, folder: folder, description: description, withExtension: false))
    }

    /// The last extension, lower-cased (without its dot; nil when there is none).
    public static func fileExtension(_ name: String) -> String? {
        guard let dot = extensionDot(name) else { return nil }
        let ext = name.utf8[name.utf8.index(after: dot)...]
        return ext.isEmpty ? nil : lowercase(String(ext)!)
    }

    /// The reference's keys plus the file's extension (3 bytes or more), so that `mp4` finds
    /// videos. Our catalog and our keyword records use these; the reference's key set is a
    /// subset, so keys still match between implementations.
    public static func indexWordsWithExtension(name: String, folder: String, description: String) -> Set<SearchWord> {
        hashed(indexTexts(name: name, folder: folder, description: description, withExtension: true))
    }

    /// The normalized words a file is indexed under (`normalizedWord` of each), without their
    /// hashes: what the local catalog needs (it keys words by their text; the BLAKE3 of each
    /// was a tenth of a chain sync's instructions, callgrind).
    public static func indexTexts(name: String, folder: String, description: String, withExtension: Bool) -> Set<String> {
        var out = Set<String>()
        func add(_ w: String) { if let n = normalizedWord(w) { out.insert(n) } }
        let name = sanitize(name), folder = sanitize(folder), description = sanitize(description)
        if name.utf8.count >= 3 {
            add(name)
            let base = removeExtension(name)
            add(base)
            for w in words(base) { add(w) }
            // '\\' and '/' as spaces, on bytes (neither byte occurs inside a longer UTF-8 sequence).
            let spaced = String(decoding: folder.utf8.map { $0 == 0x5C || $0 == 0x2F ? 0x20 : $0 }, as: UTF8.self)
            for w in words(spaced) { add(w) }
        }
        for w in words(description) { add(w) }
        if withExtension, let ext = fileExtension(name) { add(ext) }
        return out
    }

    static func hashed(_ texts: Set<String>) -> Set<SearchWord> {
        Set(texts.map { SearchWord(word: $0, hash: Hash256.blake3(Array($0.utf8))) })
    }

    /// Parses a user's search term (quotes for exact mode).
    public static func parseTerm(_ input: String) -> SearchTerm {
        var term = sanitize(input)
        var exact = false
        if term.utf8.count >= 2, (term.hasPrefix("\"") && term.hasSuffix("\"")) || (term.hasPrefix("'") && term.hasSuffix("'")) {
            term = String(term.dropFirst().dropLast())
            exact = true
        }
        let wildcard = term.contains("*")
        guard term.utf8.count >= 3 else {
            return SearchTerm(sanitized: term, isExact: exact, isWildcard: wildcard, exact: nil, words: [])
        }
        let whole = hashWord(term)
        var others: [SearchWord] = []
        if !exact {
            var seen = Set<Hash256>()
            if let whole { seen.insert(whole.hash) }
            for w in words(term) {
                if let h = hashWord(w), seen.insert(h.hash).inserted { others.append(h) }
            }
        }
        return SearchTerm(sanitized: term, isExact: exact, isWildcard: wildcard, exact: whole, words: others)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
