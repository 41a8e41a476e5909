import Dispatch
import Foundation
import KVMBuildSupport
import Synchronization

/// Turns SIGINT, SIGTERM, SIGHUP (the SSH session or terminal went away) and SIGQUIT into task
/// cancellation, so an interrupted build unwinds through the same cleanup path as a failed one.
public final class InterruptMonitor: Sendable {
    /// DispatchSourceSignal is not Sendable, so the compiler cannot see that the mutex is the
    /// only way in; it is: both fields are read and written under `state` alone.
    private struct State: @unchecked Sendable {
        var sources: [DispatchSourceSignal] = []
        var received: Int32?
    }
    private let state = Mutex(State())

    public init() {}

    public var signal: Int32? { state.withLock { $0.received } }

    public func start(onInterrupt: @escaping @Sendable (Int32) -> Void) {
        for sig in Self.signals {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                let first: Bool = self.state.withLock { state in
                    defer { if state.received == nil { state.received = sig } }
                    return state.received == nil
                }
                if first {
                    Console.shared.warning("\(Self.name(sig)) received: cleaning up")
                    onInterrupt(sig)
                } else {
                    Console.shared.warning("still cleaning up; the build's leftovers would outlive a forced exit")
                }
            }
            source.resume()
            state.withLock { $0.sources.append(source) }
        }
    }

    public func stop() {
        let sources = state.withLock { state in defer { state.sources.removeAll() }; return state.sources }
        sources.forEach { $0.cancel() }
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
