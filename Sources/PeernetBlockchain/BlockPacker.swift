/// Groups records into blocks the way the reference does (data.md §1.7): start at 119 bytes,
/// add each record's estimated size, and start a new block when the next record would push
/// the estimate past 4096 bytes. A record larger than that still gets a block of its own.
public enum BlockPacker {
    public static let targetBlockSize = 4096

    /// The largest block every reader fetches: readers ask with the cache's max block size,
    /// 50,096 bytes by default in the reference, and get "size exceeded" for anything larger.
    public static let maxReadableBlockSize = 50_096

    public static func groups<T>(_ items: [T], target targetBlockSize: Int = targetBlockSize, estimate: (T) -> Int) -> [[T]] {
        var groups: [[T]] = []
        var current: [T] = []
        var size = Block.headerSize
        for item in items {
            let s = estimate(item)
            if !current.isEmpty && size + s > targetBlockSize {
                groups.append(current)
                current = []
                size = Block.headerSize
            }
            current.append(item)
            size += s
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }
}
