import Foundation

/// 127.0.0.1 — the only address kvmbuild's guests are reached on.
enum Loopback {
    /// A new TCP socket and 127.0.0.1:port as `sockaddr`, for bind or connect; the socket is
    /// closed after `body`.
    static func withSocket<R>(port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> R) -> R? {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { return nil }
        defer { close(sock) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Whether something accepts a TCP connection on 127.0.0.1:port.
    static func accepts(port: Int) -> Bool {
        withSocket(port: port) { sock, addr, length in connect(sock, addr, length) == 0 } ?? false
    }
}
