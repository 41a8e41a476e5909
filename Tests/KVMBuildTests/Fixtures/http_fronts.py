#!/usr/bin/python3
"""Small local servers for kvmbuild's TLS and redirect tests; they bind 127.0.0.1 only, print
"PORT <n>" once listening, and stop when stdin closes (the test's end) or after 15 minutes.

  tls KEYSTONE_OR_GLANCE_PORT CERT KEY   TLS on a free port, each connection's bytes forwarded
                                         to 127.0.0.1:PORT (a TLS front for the local cloud)
  redirect URL                           HTTP answering every request 307 -> URL + path
  record FILE                            HTTP answering 200 {"images": []}, appending one line per
                                         request to FILE: "<method> <path> token=<yes|no>"
  files DIR                              HTTP serving DIR's files (a mirror); /moved/NAME answers
                                         302 -> /NAME, and every GET is appended to DIR/../requests
  files DIR low-port                     the same on a port below 32768 (apt-cacher-ng 3.7 cannot
                                         fetch from an upstream port above 32767: 503)
"""
import http.server, socket, ssl, sys, threading, time


def serve_forever_until_stdin_closes(server_loop):
    threading.Thread(target=server_loop, daemon=True).start()
    deadline = time.time() + 15 * 60
    try:
        while time.time() < deadline and sys.stdin.read(1):
            pass
    except Exception:
        pass


def tls(backend_port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("PORT", listener.getsockname()[1], flush=True)

    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except Exception:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass

    def handle(client):
        try:
            secure = context.wrap_socket(client, server_side=True)
        except Exception:
            client.close()  # a client that refused our certificate
            return
        upstream = socket.create_connection(("127.0.0.1", backend_port))
        threading.Thread(target=pump, args=(secure, upstream), daemon=True).start()
        pump(upstream, secure)

    def loop():
        while True:
            client, _ = listener.accept()
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    serve_forever_until_stdin_closes(loop)


def http_server(handler, low_port=False):
    if not low_port:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    else:
        import random
        for port in random.sample(range(20000, 32768), 200):
            try:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
                break
            except OSError:
                continue
    print("PORT", server.server_address[1], flush=True)
    serve_forever_until_stdin_closes(server.serve_forever)


def redirect(target):
    class Redirect(http.server.BaseHTTPRequestHandler):
        def answer(self):
            self.send_response(307)
            self.send_header("Location", target.rstrip("/") + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer
        def log_message(self, *args):
            pass
    http_server(Redirect)


def record(path):
    class Record(http.server.BaseHTTPRequestHandler):
        def answer(self):
            with open(path, "a") as log:
                log.write("%s %s token=%s\n" % (self.command, self.path, "yes" if self.headers.get("X-Auth-Token") else "no"))
            body = b'{"images": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer
        def log_message(self, *args):
            pass
    http_server(Record)


def files(directory, low_port=False):
    import functools, os
    log = os.path.join(os.path.dirname(os.path.abspath(directory)), "requests")

    class Mirror(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            with open(log, "a") as out:
                out.write("GET %s\n" % self.path)
            if self.path.startswith("/moved/"):
                self.send_response(302)
                self.send_header("Location", self.path[len("/moved"):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()
        def log_message(self, *args):
            pass
    http_server(functools.partial(Mirror, directory=directory), low_port)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tls":
        tls(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif mode == "redirect":
        redirect(sys.argv[2])
    elif mode == "record":
        record(sys.argv[2])
    elif mode == "files":
        files(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "low-port")
