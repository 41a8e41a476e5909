import ArgumentParser
import Foundation
import KVMBuildSupport

/// Output flags every verb shares.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print debug detail (commands run, timings).")
    public var verbose = false

    @Flag(help: "Print one machine-readable JSON object on stdout.")
    public var json = false

    public init() {}

    func apply() { if verbose { Console.shared.minimumLevel = .debug } }
}

/// Where kvmbuild finds libvirt and keeps its files.
public struct HostOptions: ParsableArguments {
    @Option(name: .customLong("connect"), help: "libvirt URI.")
    public var libvirtURI = ProcessInfo.processInfo.environment["LIBVIRT_DEFAULT_URI"] ?? "qemu:///system"

    @Option(help: "Output folder for images, logs and build state.")
    public var buildDir = "build"

    @Option(help: "Cache for verified base images (default $KVMBUILD_CACHE or ~/.cache/kvmbuild).")
    public var cacheDir: String?

    public init() {}

    var resolvedCacheDir: String {
        if let cacheDir { return absolute(cacheDir) }
        if let env = ProcessInfo.processInfo.environment["KVMBUILD_CACHE"] { return absolute(env) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kvmbuild").path
    }

    var resolvedBuildDir: String { absolute(buildDir) }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }
}

extension AcceleratorRequestArgument: ExpressibleByArgument {}

/// `--accel auto|kvm|tcg` as ArgumentParser sees it.
public enum AcceleratorRequestArgument: String, CaseIterable, Sendable {
    case auto, kvm, tcg
}

enum JSON {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        Console.shared.result(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
