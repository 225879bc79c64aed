import Foundation

/// Which files of the share folder are never published: editor swap and backup files, temp and
/// partial downloads, database journals, version-control and trash folders, OS litter, hidden
/// files, plus the user's own `.peernetignore` patterns (gitignore syntax) at any folder level.
///
/// Programs save through temp names (`.goutputstream-XXXXXX`, rsync's `.name.XXXXXX`,
/// `tmpXXXXXXXX`, `name.part`) and keep journals beside databases: none of that may ever leave
/// the machine, so these rules are applied before anything is hashed.
public struct ShareIgnore: Sendable {
    /// The built-in rules (gitignore syntax). A `.peernetignore` can undo one with `!pattern`.
    public static let defaultPatterns: [String] = [
        ".*",                                    // hidden files and folders (.git/, .Trash-1000/, .DS_Store, swap files .x.swp, rsync temp .x.XXXXXX)
        "*~", "\\#*#", ".#*",                      // editor backups and locks (emacs, vim backup)
        "*.sw[a-p]",                             // vim swap files shown without the dot
        "*.tmp", "*.temp", "*.part", "*.crdownload", "*.partial", "*.download",
        "~$*", ".~lock.*#",                      // Office and LibreOffice lock files
        "tmp" + String(repeating: "[a-zA-Z0-9_]", count: 8),   // mkstemp / Python tempfile names (tmpXXXXXXXX)
        "*-journal", "*-wal", "*-shm",           // SQLite journals
        "Thumbs.db", "desktop.ini", "Icon\r",
        ".peernetignore",
    ]

    /// One rule: a compiled gitignore pattern, relative to the folder of the file it came from.
    public struct Rule: Sendable, Equatable {
        let base: [String]       // folder components the rule applies under
        let pattern: [String]    // pattern components ("**" allowed)
        let anchored: Bool
        let directoryOnly: Bool
        let negated: Bool
    }

    var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// The defaults alone.
    public static let defaults = ShareIgnore(rules: defaultPatterns.compactMap { parse($0, base: []) })

    /// Parses one line of an ignore file; nil for blanks and comments.
    public static func parse(_ line: String, base: [String]) -> Rule? {
        var text = line
        // Trailing spaces are ignored unless escaped; leading "#" is a comment.
        while text.hasSuffix(" ") && !text.hasSuffix("\\ ") { text.removeLast() }
        if text.isEmpty || text.hasPrefix("#") { return nil }
        var negated = false
        if text.hasPrefix("!") { negated = true; text.removeFirst() }
        else if text.hasPrefix("\\!") || text.hasPrefix("\\#") { text.removeFirst() }
        var directoryOnly = false
        if text.hasSuffix("/") { directoryOnly = true; text.removeLast() }
        var anchored = false
        if text.hasPrefix("/") { anchored = true; text.removeFirst() }
        if text.isEmpty { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // A slash inside the pattern anchors it to its folder (gitignore).
        if parts.count > 1 { anchored = true }
        return Rule(base: base, pattern: parts, anchored: anchored, directoryOnly: directoryOnly, negated: negated)
    }

    /// Adds the rules of an ignore file found in folder `base`.
    public mutating func add(file text: String, base: [String]) {
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if let rule = Self.parse(String(line), base: base) { rules.append(rule) }
        }
    }

    /// Whether `path` (components relative to the share folder) is ignored. Later rules win, as
    /// in gitignore; a file under an ignored folder is ignored.
    public func isIgnored(_ path: [String], isDirectory: Bool) -> Bool {
        // A file inside an ignored folder is ignored whatever its own name says.
        if path.count > 1 {
            for i in 1..<path.count where decide(Array(path.prefix(i)), isDirectory: true) == true { return true }
        }
        return decide(path, isDirectory: isDirectory) ?? false
    }

    func decide(_ path: [String], isDirectory: Bool) -> Bool? {
        var verdict: Bool? = nil
        for rule in rules {
            if rule.directoryOnly && !isDirectory { continue }
            guard path.count > rule.base.count, Array(path.prefix(rule.base.count)) == rule.base else { continue }
            let relative = Array(path.dropFirst(rule.base.count))
            let matched: Bool
            if rule.anchored {
                matched = Self.match(rule.pattern[...], relative[...])
            } else {
                matched = rule.pattern.count == 1 && Self.glob(rule.pattern[0], relative.last!)
            }
            if matched { verdict = !rule.negated }
        }
        return verdict
    }

    /// Matches pattern components against path components; "**" matches any number of them.
    static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            for skip in 0...path.count where match(rest, path.dropFirst(skip)) { return true }
            return false
        }
        guard let head = path.first, glob(first, head) else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    /// One component against one glob (`*`, `?`, `[...]`, `\` escapes), bytewise.
    static func glob(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
