// swift-tools-version: 6.0
import Foundation
import PackageDescription

// scripts/package-deb.sh stamps the commit into the binary (KVMBUILD_GIT_SHA=<sha>); it reaches
// only CShims' build_info.c, so nothing else recompiles. A development build says "dev".
let gitSha = ProcessInfo.processInfo.environment["KVMBUILD_GIT_SHA"].flatMap { sha in
    sha.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } ? sha : nil
}

let package = Package(
    name: "kvmbuild",
    products: [
        .executable(name: "kvmbuild", targets: ["kvmbuild"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
    ],
    targets: [
        // The executable only forwards to the commands library, so every verb is testable.
        .executableTarget(name: "kvmbuild", dependencies: ["KVMBuildCommands"]),
        .target(
            name: "KVMBuildCommands",
            dependencies: [
                "KVMBuild", "KVMBuildSupport", "Glance", "ConfigDrive", "Libvirt", "CShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The domain: host facts, targets, the build pipeline and its phases.
        .target(
            name: "KVMBuild",
            dependencies: [
                "KVMBuildSupport", "Libvirt", "Guestfs", "ConfigDrive", "Ansible", "CShims", "Yams",
                .product(name: "Crypto", package: "swift-crypto"),
                // The base-image download.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // Errors, processes, terminal output and hashing shared by every module.
        .target(
            name: "KVMBuildSupport",
            dependencies: ["CShims", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "ConfigDrive", dependencies: ["KVMBuildSupport", "Yams"]),
        .target(name: "Ansible", dependencies: ["KVMBuildSupport"]),
        // clouds.yaml / OS_* auth, Keystone v3 tokens and catalog, Glance v2 streamed upload.
        .target(
            name: "Glance",
            dependencies: [
                "KVMBuildSupport", "Yams",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // Thin, safe wrappers: the only modules that touch C pointers.
        .target(name: "Libvirt", dependencies: ["CLibvirt"]),
        .target(name: "Guestfs", dependencies: ["CGuestfs"]),
        .systemLibrary(
            name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(
            name: "CGuestfs", pkgConfig: "libguestfs", providers: [.apt(["libguestfs-dev"])]),
        // What Swift cannot call directly: variadic ioctl (/dev/kvm), posix_spawn with signal resets,
        // the signal reset before exec, and the GNU-only memmem / SEEK_DATA.
        .target(name: "CShims", cSettings: gitSha.map { [.define("KVMBUILD_GIT_SHA", to: "\"\($0)\"")] } ?? []),
        .testTarget(
            name: "KVMBuildTests",
            dependencies: ["KVMBuild", "KVMBuildSupport", "KVMBuildCommands", "ConfigDrive", "Ansible", "Libvirt", "Guestfs", "Glance",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           "Yams"],
            resources: [.copy("Fixtures")]),
    ]
)
