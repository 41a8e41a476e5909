import KVMBuildSupport

/// The command-line tools a build runs, each with the version it reports.
enum ToolProbe {
    struct Tool: Sendable {
        let name: String
        let candidates: [String]
        let versionArgs: [String]
        let required: Bool
    }

    static let tools: [Tool] = [
        Tool(name: "qemu-img", candidates: ["qemu-img"], versionArgs: ["--version"], required: true),
        Tool(name: "iso-writer", candidates: ["xorriso", "genisoimage"], versionArgs: ["-version"], required: true),
        Tool(name: "ansible-playbook", candidates: ["ansible-playbook"], versionArgs: ["--version"], required: true),
        Tool(name: "ssh", candidates: ["ssh"], versionArgs: ["-V"], required: true),
        Tool(name: "ssh-keygen", candidates: ["ssh-keygen"], versionArgs: [], required: true),
        // package_cache: auto builds from the mirrors without it.
        Tool(name: "package-cache", candidates: ["apt-cacher-ng", "/usr/sbin/apt-cacher-ng"], versionArgs: [], required: false),
    ]

    static func all() async -> [HostReport.Item] {
        var items: [HostReport.Item] = []
        for tool in tools { items.append(await probe(tool)) }
        return items
    }

    static func probe(_ tool: Tool) async -> HostReport.Item {
        guard let path = tool.candidates.lazy.compactMap({ ProcessSpec.which($0) }).first else {
            return .init(tool.name, tool.required ? .fail : .warn, "\(tool.candidates.joined(separator: " or ")) not found on PATH",
                         fix: "run scripts/setup-host.sh")
        }
        guard !tool.versionArgs.isEmpty else { return .init(tool.name, .pass, path) }
        let result = try? await ProcessRunner.run(ProcessSpec(path, tool.versionArgs))
        let text = [result?.stdout ?? "", result?.stderr ?? ""].joined(separator: "\n")
        let firstLine = text.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return .init(tool.name, .pass, "\(path): \(firstLine.map(String.init) ?? "version unknown")")
    }
}
