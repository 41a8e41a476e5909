"""A TCP proxy to Glance that cuts any connection once it has carried a number of bytes upstream.

Only an image upload sends that much, so the upload is cut mid-stream (on whichever kept-alive
connection carries it) while every other request passes, and the client can still delete the
unfinished image. Prints its port, then serves until killed.
    python3 cutting_proxy.py UPSTREAM_PORT CUT_AFTER_BYTES
"""
import socket
import sys
import threading

upstream_port = int(sys.argv[1])
cut_after = int(sys.argv[2])


def pipe(src, dst, limit=None):
    sent = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if limit is not None and sent + len(data) > limit:
                break
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def handle(client):
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream, cut_after)


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
