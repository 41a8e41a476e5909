/// Hardware virtualisation as /proc/cpuinfo advertises it.
public struct CPUVirtualization: Sendable, Equatable {
    public enum Extension: String, Sendable, Codable { case vmx, svm }

    /// `vmx` (Intel VT-x), `svm` (AMD-V), or nil when the CPU (or the hypervisor we run under) hides both.
    public let ext: Extension?
    public let modelName: String?

    /// Parses the text of /proc/cpuinfo. Only the first processor's flags matter: all cores agree.
    public static func parse(cpuinfo: String) -> CPUVirtualization {
        var flags: Set<Substring> = []
        var model: String?
        for line in cpuinfo.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...]
            if key == "flags", flags.isEmpty { flags = Set(value.split(separator: " ")) }
            if key == "model name", model == nil { model = value.trimmingCharacters(in: .whitespaces) }
        }
        let ext: Extension? = flags.contains("vmx") ? .vmx : flags.contains("svm") ? .svm : nil
        return CPUVirtualization(ext: ext, modelName: model)
    }
}

import Foundation
