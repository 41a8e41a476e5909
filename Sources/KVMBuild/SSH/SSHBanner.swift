import Foundation

/// Whether sshd answers on a forwarded port. User-mode networking accepts the TCP connection
/// before the guest listens, so only the `SSH-` banner proves sshd is up.
enum SSHBanner {
    static func answers(port: Int, timeoutMilliseconds: Int32 = 3000) -> Bool {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { return false }
        defer { close(sock) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return false }
        var pfd = pollfd(fd: sock, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMilliseconds) == 1 else { return false }
        var buffer = [UInt8](repeating: 0, count: 8)
        let n = recv(sock, &buffer, 4, 0)
        return n == 4 && Array(buffer.prefix(4)) == Array("SSH-".utf8)
    }
}
