"""The floor for any HTTP front door here: a raw-socket HTTP/1.1 keep-alive responder
that answers every request with the same small JSON body, parsing only what it must
(the head's end and Content-Length). http_bench.py measures it in the same run, so the
front door's own cost can be told apart from loopback TCP and the client.

    python bench/http_floor.py     # prints the port it listens on, then serves until killed
"""
import selectors
import socket
import sys

BODY = b'{"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "hello"}]}}\n'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


def main():
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    print(listener.getsockname()[1], flush=True)
    buffers = {}
    while True:
        for key, _ in selector.select():
            if key.data is None:
                conn, _ = listener.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffers[conn] = b""
                selector.register(conn, selectors.EVENT_READ, True)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                selector.unregister(conn)
                del buffers[conn]
                conn.close()
                continue
            buf = buffers[conn] + data
            answers = 0
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                at = buf.find(b"Content-Length:", 0, end)
                if at < 0:
                    at = buf.lower().find(b"content-length:", 0, end)
                length = int(buf[at + 15:buf.find(b"\r\n", at)]) if at >= 0 else 0
                if len(buf) < end + 4 + length:
                    break
                buf = buf[end + 4 + length:]
                answers += 1
            buffers[conn] = buf
            if answers:
                conn.setblocking(True)
                conn.sendall(RESPONSE * answers)
                conn.setblocking(False)


if __name__ == "__main__":
    sys.exit(main())
