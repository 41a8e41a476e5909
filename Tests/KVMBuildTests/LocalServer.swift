import Foundation
@testable import KVMBuild
import KVMBuildSupport

/// One of Fixtures/http_fronts.py's servers, on a port it picked; killed with the test.
final class LocalServer {
    let process = Process()
    let input = Pipe()
    let port: Int

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Harness.repo + "/Tests/KVMBuildTests/Fixtures/http_fronts.py"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = input  // the server stops when this closes
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        while !line.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let port = Int(line.replacingOccurrences(of: "PORT", with: "").trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw KVMBuildError(.internalError, "http_fronts.py \(arguments.first ?? "") did not start: '\(line)'")
        }
        self.port = port
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
