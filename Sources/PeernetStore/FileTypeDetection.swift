/// File type and format from the file extension, as the reference's API does (data.md §3.4).
public enum FileTypeDetection {
    static let table: [String: (UInt8, UInt16)] = {
        var t: [String: (UInt8, UInt16)] = [:]
        func add(_ exts: String, _ type: UInt8, _ format: UInt16) { for e in exts.split(separator: " ") { t[String(e)] = (type, format) } }
        add("txt log ini json md", 1, 10)
        add("csv tsv", 1, 15)
        add("html htm", 1, 9)
        add("doc docx rtf odt", 5, 2)
        add("pdf", 5, 1)
        add("xls xlsx ods", 5, 3)
        add("ppt pptx odp", 5, 4)
        add("gif jpg jpeg png svg bmp tif tiff jfif webp", 2, 5)
        add("mp4 flv avi mov mpg mpeg h264 3g2 3gp mkv wmv webm ts", 3, 7)
        add("mp3 ogg flac", 4, 6)
        add("zip rar 7z tar", 7, 8)
        add("epub mobi prc", 10, 11)
        add("gz bz bz2 xz", 8, 12)
        add("sql", 1, 13)
        add("eml mbox", 1, 14)
        add("exe sys dll cmd bat", 6, 17)
        add("msi", 6, 18)
        add("apk", 6, 19)
        add("iso", 7, 20)
        add("pnsearch", 1, 21)
        return t
    }()

    public static func detect(name: String) -> (type: UInt8, format: UInt16) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (0, 0) }
        let ext = String(name[name.index(after: dot)...]).lowercased()
        return table[ext] ?? (0, 0)
    }

    public static let typeNames = ["binary", "text", "picture", "video", "audio", "document", "executable", "container",
                                   "compressed", "folder", "ebook"]
}
