import Foundation

/// Whether sshd answers on a forwarded port. User-mode networking accepts the TCP connection
/// before the guest listens, so only the `SSH-` banner proves sshd is up.
enum SSHBanner {
    static func answers(port: Int, timeoutMilliseconds: Int32 = 3000) -> Bool {
        Loopback.withSocket(port: port) { sock, addr, length in
            guard connect(sock, addr, length) == 0 else { return false }
            var pfd = pollfd(fd: sock, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, timeoutMilliseconds) == 1 else { return false }
            var buffer = [UInt8](repeating: 0, count: 4)
            return recv(sock, &buffer, 4, 0) == 4 && buffer == Array("SSH-".utf8)
        } ?? false
    }
}
