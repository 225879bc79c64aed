/// Turns names from the network into safe file names (the mount must never be escaped and
/// never show a name the kernel would refuse): no `/`, no NUL or other control characters, not
/// `.` or `..`, at most 255 bytes, and unique within a directory. The original name stays
/// available in the `user.peernet.name` extended attribute.
public enum NameSanitizer {
    public static let maxBytes = 255

    /// A safe single path component for `name` (never empty).
    public static func component(_ name: String) -> String {
        var out = String.UnicodeScalarView()
        for s in name.unicodeScalars {
            switch s.value {
            case 0x00...0x1f, 0x7f, 0x80...0x9f: continue        // control characters, NUL included
            case 0x2f: out.append("∕")                            // '/' -> DIVISION SLASH
            case 0x5c: out.append("∖")                            // '\' -> SET MINUS (Windows separators)
            default: out.append(s)
            }
        }
        var text = String(out)
        if text == "." || text == ".." || text.isEmpty { text = "_" + text + "_" }
        // Trim to 255 UTF-8 bytes at a character boundary.
        if text.utf8.count > maxBytes {
            var cut = ""
            for c in text where cut.utf8.count + String(c).utf8.count <= maxBytes - 3 { cut.append(c) }
            text = cut + "…"
        }
        return text
    }

    /// Folder components of a folder tag (separators `/` and `\`), each sanitised; empty
    /// and `.`/`..` components are dropped, so a folder can never climb out.
    public static func folderComponents(_ folder: String) -> [String] {
        folder.split(whereSeparator: { $0 == "/" || $0 == "\\" })
            .map(String.init)
            .filter { !$0.isEmpty && $0 != "." && $0 != ".." }
            .map(component)
    }

    /// Makes `name` unique among `taken` by adding " (2)", " (3)"… before the extension.
    public static func unique(_ name: String, taken: Set<String>) -> String {
        guard taken.contains(name) else { return name }
        let base: Substring, ext: Substring
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            base = name[..<dot]
            ext = name[dot...]
        } else {
            base = Substring(name)
            ext = ""
        }
        var n = 2
        while true {
            var candidate = "\(base) (\(n))\(ext)"
            if candidate.utf8.count > maxBytes { candidate = String(candidate.suffix(200)) }
            if !taken.contains(candidate) { return candidate }
            n += 1
        }
    }
}
