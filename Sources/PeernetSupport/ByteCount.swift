import Foundation

/// Sizes and rates as people read them (decimal units, as `ls -h --si` and download tools).
public enum ByteCount {
    /// "512 B", "1.5 MB", "2.1 GB".
    public static func text(_ n: Double) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = n, i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return String(format: i == 0 ? "%.0f %@" : "%.1f %@", v, units[i])
    }
}
