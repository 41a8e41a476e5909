import Foundation
import KVMBuildSupport

/// Watches the build guest while something else (a login wait, a play) talks to it, and turns
/// what libvirt sees into an error naming the cause: a guest QEMU paused on a disk write error
/// would otherwise look like a play that hangs until some timeout.
struct GuestWatch: Sendable {
    let build: BuildContext
    let guests: any GuestDriver

    init(build: BuildContext) throws {
        self.build = build
        guests = try build.output(\.guests)
    }

    /// Throws when the guest is gone or paused on an I/O error.
    func check() throws {
        guard try guests.state(build.domainName) != nil else {
            throw KVMBuildError(.bootStalled, "the guest stopped unexpectedly", fix: "read the console log \(build.paths.consoleLog)")
        }
        if try guests.isPausedOnIOError(build.domainName) {
            throw Self.diskFull(build.paths.root)
        }
    }

    /// Runs `body`, checking the guest every few seconds; the first failure cancels the other.
    func guarding<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    try await Task.sleep(nanoseconds: 3_000_000_000)
                    try check()
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// The one error for a full build folder, with what is left there.
    static func diskFull(_ folder: String) -> KVMBuildError {
        let left = freeBytes(folder).map { " (\($0 >> 20) MiB free)" } ?? ""
        return KVMBuildError(.io, "disk full: writing to \(folder) failed\(left)",
                             fix: "free space there, or build elsewhere with --build-dir")
    }

    /// Free bytes on the file system holding `folder`, when it can be asked.
    static func freeBytes(_ folder: String) -> Int64? {
        (try? FileManager.default.attributesOfFileSystem(forPath: folder)[.systemFreeSize] as? Int64).flatMap { $0 }
    }
}
