import Foundation
import KVMBuildSupport

/// The expected sha256 of a base image, in Packer's forms: `sha256:HEX` or `file:PATH`
/// (a sha256sum-style file whose first word is the hash).
enum Checksum {
    static func parse(_ spec: String) throws -> String {
        if spec.hasPrefix("sha256:") {
            let hex = String(spec.dropFirst(7)).lowercased()
            guard isSHA256(hex) else {
                throw KVMBuildError(.invalidInput, "checksum '\(spec)' is not 64 hex digits", fix: "write base_image.checksum as sha256:<64 hex digits>")
            }
            return hex
        }
        if spec.hasPrefix("file:") {
            let path = String(spec.dropFirst(5))
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw KVMBuildError(.notFound, "checksum file \(path) not found",
                                    fix: path.contains("debian-12-kvmbuild") ? "run scripts/build-base-image.sh" : "fix base_image.checksum")
            }
            let hex = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map { String($0).lowercased() } ?? ""
            guard isSHA256(hex) else {
                throw KVMBuildError(.invalidInput, "checksum file \(path) does not start with a sha256", fix: "regenerate it with sha256sum")
            }
            return hex
        }
        throw KVMBuildError(.invalidInput, "checksum '\(spec)' has no sha256: or file: prefix", fix: "write base_image.checksum as sha256:<hex> or file:<path>")
    }

    static func isSHA256(_ hex: String) -> Bool { hex.count == 64 && hex.allSatisfy(\.isHexDigit) }
}
