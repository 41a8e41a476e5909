import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the secret scan found in one file.
public struct SecretScanReport: Sendable, Codable, Equatable {
    public struct Finding: Sendable, Codable, Equatable {
        public let secret: String
        /// The most often any one fragment of it was found (outside its allowed place, when it has one).
        public let occurrences: Int
        public let allowed: Int
        /// Copies found exactly where they belong (munge.key's data blocks); nil when the place
        /// was not known and only the count was checked.
        public var inPlace: Int?
    }

    /// Every secret that was searched for, with its count: the leaks and the clean ones.
    public let results: [Finding]
    /// Bytes of data read (holes of a sparse file are zeros and cannot hold a secret).
    public let bytesScanned: Int64
    public let seconds: Double

    public var leaks: [Finding] { results.filter { $0.occurrences > $0.allowed } }
    public var passed: Bool { leaks.isEmpty }

    public var summary: String {
        let placed = results.compactMap(\.inPlace).reduce(0, +)
        let where_ = placed > 0 ? " (the munge key only in /etc/munge/munge.key's blocks)" : ""
        return passed ? "secret scan: passed, \(bytesScanned) bytes scanned for \(results.count) secrets\(where_)"
            : "secret scan: FAILED, " + leaks.map { "\($0.secret) found \($0.occurrences)x" }.joined(separator: "; ")
    }
}

/// Reads a file once and counts every fragment of every secret in the same pass (glibc memmem
/// per fragment over each chunk; a chunk keeps the tail of the one before so a secret that
/// straddles two reads is still found, and counted once). Only the file's data extents are read:
/// a raw image converted with `qemu-img convert -S` keeps its zero clusters as holes.
public enum SecretScanner {
    static let chunkSize = 16 << 20

    public static func scan(file path: String, for secrets: [InjectedSecret]) throws -> SecretScanReport {
        let start = Date()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ScanError(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ScanError(path: path, errno: errno) }
        let size = Int64(st.st_size)

        let fragments = secrets.flatMap { $0.fragments }
        // Each fragment's allowed disk regions (empty: none, or place unknown).
        let regions = secrets.flatMap { secret in secret.fragments.map { _ in secret.allowedRegions } }
        let longest = fragments.map(\.count).max() ?? 1
        var counts = [Int](repeating: 0, count: fragments.count)
        var inPlace = [Int](repeating: 0, count: fragments.count)
        var scanned: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: chunkSize + longest)

        var offset: Int64 = 0
        while offset < size {
            // The next data extent [dataStart, dataEnd); no SEEK_DATA support means all data.
            let dataStart = lseek(fd, off_t(offset), kvmb_seek_data())
            if dataStart < 0 { if errno == ENXIO { break }; throw ScanError(path: path, errno: errno) }
            var dataEnd = Int64(lseek(fd, dataStart, kvmb_seek_hole()))
            if dataEnd < 0 { dataEnd = size }
            var position = Int64(dataStart)
            var carry = 0
            while position < dataEnd {
                let want = Int(min(Int64(chunkSize), dataEnd - position))
                let got = buffer.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + carry, want, off_t(position)) }
                if got < 0 { if errno == EINTR { continue }; throw ScanError(path: path, errno: errno) }
                if got == 0 { break }
                let filled = carry + got
                let bufferStart = position - Int64(carry)
                buffer.withUnsafeBytes { raw in
                    for (index, fragment) in fragments.enumerated() {
                        for match in matches(of: fragment, in: raw.baseAddress!, length: filled, after: carry) {
                            let at = bufferStart + Int64(match)
                            if regions[index].contains(where: { $0.lowerBound <= at && at + Int64(fragment.count) <= $0.upperBound }) {
                                inPlace[index] += 1
                            } else {
                                counts[index] += 1
                            }
                        }
                    }
                }
                scanned += Int64(got)
                position += Int64(got)
                // Keep the last longest-1 bytes: a match that ends in the next chunk starts there.
                let keep = min(longest - 1, filled)
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + (filled - keep), keep)
                }
                carry = keep
            }
            offset = dataEnd
        }

        var results: [SecretScanReport.Finding] = []
        var index = 0
        for secret in secrets {
            let mine = counts[index..<index + secret.fragments.count]
            let placed = inPlace[index..<index + secret.fragments.count]
            index += secret.fragments.count
            if secret.allowedRegions.isEmpty {
                results.append(.init(secret: secret.name, occurrences: mine.max() ?? 0, allowed: secret.allowed, inPlace: nil))
            } else {
                // Its place is known: every copy elsewhere is a leak.
                results.append(.init(secret: secret.name, occurrences: mine.max() ?? 0, allowed: 0, inPlace: placed.max() ?? 0))
            }
        }
        return SecretScanReport(results: results, bytesScanned: scanned, seconds: Date().timeIntervalSince(start))
    }

    /// Offsets of the matches of `needle` in `haystack[0..<length]` that end after `carry`
    /// (those that end inside the carried tail were found with the previous chunk).
    static func matches(of needle: [UInt8], in haystack: UnsafeRawPointer, length: Int, after carry: Int) -> [Int] {
        guard !needle.isEmpty, length >= needle.count else { return [] }
        var found: [Int] = []
        var from = max(0, carry - needle.count + 1)
        needle.withUnsafeBytes { n in
            while from + needle.count <= length {
                guard let hit = kvmb_memmem(haystack + from, length - from, n.baseAddress!, needle.count) else { break }
                let at = haystack.distance(to: UnsafeRawPointer(hit))
                found.append(at)
                from = at + 1
            }
        }
        return found
    }

    struct ScanError: Error, CustomStringConvertible {
        let path: String
        let errno: Int32
        var description: String { "cannot read \(path): \(String(cString: strerror(errno)))" }
    }
}
