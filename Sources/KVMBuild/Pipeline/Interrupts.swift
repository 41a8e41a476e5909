import Dispatch
import Foundation
import KVMBuildSupport

/// Turns SIGINT, SIGTERM, SIGHUP (the SSH session or terminal went away) and SIGQUIT into task
/// cancellation, so an interrupted build unwinds through the same cleanup path as a failed one.
public final class InterruptMonitor: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var received: Int32?

    public init() {}

    public var signal: Int32? { lock.withLock { received } }

    public func start(onInterrupt: @escaping @Sendable (Int32) -> Void) {
        for sig in Self.signals {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                let first: Bool = self.lock.withLock {
                    defer { if self.received == nil { self.received = sig } }
                    return self.received == nil
                }
                if first {
                    Console.shared.warning("\(Self.name(sig)) received: cleaning up")
                    onInterrupt(sig)
                } else {
                    Console.shared.warning("still cleaning up; the build's leftovers would outlive a forced exit")
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    public func stop() {
        sources.forEach { $0.cancel() }
        sources.removeAll()
        for sig in Self.signals { Foundation.signal(sig, SIG_DFL) }
    }

    public static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    public static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        default: "signal \(sig)"
        }
    }
}
