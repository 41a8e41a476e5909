import Foundation
import Guestfs

/// Where a file's bytes lie on the disk, in disk byte offsets: what lets the secret scan allow the
/// munge key at /etc/munge/munge.key and nowhere else, instead of merely counting it.
enum FileExtents {
    /// Disk byte ranges of `path`'s data, from the guest's own `filefrag` (FIEMAP) on the mounted
    /// file system plus its partition's start; nil when that cannot be told (no filefrag, data
    /// inline in the inode, an unusual layout), and the scan then falls back to a count.
    static func locate(_ path: String, on g: Handle) -> [Range<Int64>]? {
        guard let device = g.device(holding: path), let start = try? g.partitionStart(device),
              let output = try? g.sh("filefrag -e \(SSHClient.shellQuote(path)) 2>/dev/null") else { return nil }
        return parse(filefrag: output).map { $0.map { (start + $0.lowerBound)..<(start + $0.upperBound) } }
    }

    /// Byte ranges within the file system from `filefrag -e` output:
    /// "File size of F is 1024 (1 block of 4096 bytes)" then lines "0: 0.. 0: 123456.. 123456: 1: last,eof".
    static func parse(filefrag text: String) -> [Range<Int64>]? {
        guard let sizeLine = text.split(separator: "\n").first(where: { $0.hasPrefix("File size of ") }),
              let of = sizeLine.range(of: " of ", options: .backwards),
              let blockSize = Int64(sizeLine[of.upperBound...].split(separator: " ").first ?? "") else { return nil }
        var ranges: [Range<Int64>] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 4, Int(fields[0]) != nil else { continue }
            let physical = fields[2].components(separatedBy: "..").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = Int64(physical.first ?? ""), let length = Int64(fields[3]) else { return nil }
            ranges.append((first * blockSize)..<((first + length) * blockSize))
        }
        return ranges.isEmpty ? nil : ranges
    }
}
