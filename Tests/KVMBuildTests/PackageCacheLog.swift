import Foundation

// Only the tests read the cache's log; kvmbuild itself does not need it.

/// apt-cacher-ng's transfer log, one record per line: `epoch|I|bytes|client|host/path` when it
/// fetched a file from upstream (a miss), `epoch|O|bytes|client|host/path` when it served one
/// to a client (a hit is an O without an I). It buffers the log and writes it at the latest
/// when it exits.
struct PackageCacheLog: Sendable {
    struct Record: Sendable, Equatable {
        enum Kind: Sendable { case fetched, served }
        /// Seconds since 1970.
        let time: Int
        let kind: Kind
        let bytes: Int64
        let url: String
    }

    let records: [Record]

    init(text: String) {
        records = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count >= 5, let time = Int(fields[0]), let bytes = Int64(fields[2]) else { return nil }
            let kind: Record.Kind
            switch fields[1] {
            case "I": kind = .fetched
            case "O": kind = .served
            default: return nil
            }
            return Record(time: time, kind: kind, bytes: bytes, url: fields[4...].joined(separator: "|"))
        }
    }

    static func load(_ path: String) -> PackageCacheLog {
        PackageCacheLog(text: (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    /// Packages (.deb/.rpm) by how often each was fetched from upstream and served, from `since` on.
    func packages(since: Int = 0) -> [String: (fetched: Int, served: Int)] {
        var counts: [String: (fetched: Int, served: Int)] = [:]
        for record in records where record.time >= since && (record.url.hasSuffix(".deb") || record.url.hasSuffix(".rpm")) {
            var entry = counts[record.url] ?? (0, 0)
            if record.kind == .fetched { entry.fetched += 1 } else { entry.served += 1 }
            counts[record.url] = entry
        }
        return counts
    }
}
