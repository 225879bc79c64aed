/// Groups records into blocks the way the reference does (data.md §1.7): start at 119 bytes,
/// add each record's estimated size, and start a new block when the next record would push
/// the estimate past 4096 bytes. A record larger than that still gets a block of its own.
public enum BlockPacker {
    public static let targetBlockSize = 4096

    public static func groups<T>(_ items: [T], estimate: (T) -> Int) -> [[T]] {
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
