import Foundation
import KVMBuildSupport

/// One sha256 over a folder's files (relative paths and contents, sorted): changes when the
/// playbook tree changes, whatever file changed.
enum TreeHash {
    static func sha256(directory: String) throws -> String {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: directory) else { return Hashing.sha256(of: Data()) }
        var lines: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
            lines.append("\(try Hashing.sha256(ofFile: path))  \(relative)")
        }
        return Hashing.sha256(of: Data(lines.sorted().joined(separator: "\n").utf8))
    }
}
