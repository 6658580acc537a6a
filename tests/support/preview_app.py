"""An app for preview tests, run inside a real sandbox (standard library only: the sandbox has
the system's Python). `python3 preview_app.py --port N`.

GET  /echo           JSON: method, path, query, headers (`?hop`: with a hop-by-hop header;
                     `?posing`: with a preview gateway's error header)
POST /echo           JSON: the body's length and sha256, read in small pieces; `/progress`
                     shows how much of the current body has arrived (proves streaming up)
GET  /stream         one chunk, then the rest only after GET /release (proves streaming down)
GET  /big?mb=N       N MiB of bytes
GET  /redirect       302 to /echo (an absolute path: the proxy keeps it under the prefix)
GET  /cookie         sets app cookies (Path=/, a Domain, and one named like Kiln's)
GET  /ws             WebSocket echo (text and binary; subprotocol "echo" if offered)
GET  /api/health     200
"""

import argparse
import base64
import hashlib
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RELEASE = threading.Event()
PROGRESS = {"received": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, data, status=200, extra=()):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        if url.path in ("/echo", "/api/health"):
            # ?hop: a header this response names in Connection (hop-by-hop: never forwarded)
            hop = [("Connection", "X-App-Hop"), ("X-App-Hop", "1")] if "hop" in url.query else []
            if "posing" in url.query:  # an app posing as a preview gateway's own answer
                hop.append(("X-Kiln-Gateway-Error", "bad_signature"))
            return self._json({"method": "GET", "path": url.path, "query": url.query,
                               "headers": [[k.lower(), v] for k, v in self.headers.items()]},
                              extra=hop)
        if url.path == "/progress":
            return self._json(PROGRESS)
        if url.path == "/release":
            RELEASE.set()
            return self._json({"released": True})
        if url.path == "/stream":
            return self._stream()
        if url.path == "/big":
            size = int(url.query.partition("=")[2] or 1) * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = bytes(range(256)) * 256
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
            return None
        if url.path == "/redirect":
            return self._json({}, 302, [("Location", "/echo?from=redirect")])
        if url.path == "/cookie":
            return self._json({}, 200, [
                ("Set-Cookie", "app=1; Path=/"),
                ("Set-Cookie", "wide=1; Domain=localhost; Path=/x; HttpOnly"),
                ("Set-Cookie", "kiln_preview=forged; Path=/")])
        return self._json({"error": "no such page"}, 404)


    def do_POST(self):  # noqa: N802
        digest = hashlib.sha256()
        PROGRESS["received"] = 0
        for piece in self._body():
            digest.update(piece)
            PROGRESS["received"] += len(piece)
        self._json({"method": "POST", "length": PROGRESS["received"],
                    "sha256": digest.hexdigest()})

    def _body(self):
        """The request body in pieces, as they arrive (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(65536, left))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def _stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(b"first\n")
        RELEASE.wait(30)
        RELEASE.clear()
        self._chunk(b"second\n")
        self._chunk(b"")

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # -- a WebSocket echo (RFC 6455): enough of it for text, binary, ping and close ----------
    def _websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "echo" in offered:
            self.send_header("Sec-WebSocket-Protocol", "echo")
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:
                self._frame(8, data[:2] or struct.pack("!H", 1000))
                return
            if opcode == 9:
                self._frame(10, data)
            elif opcode in (1, 2):
                self._frame(opcode, data)

    def _frame(self, opcode, data):
        size = len(data)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        self.wfile.write(head + data)
        self.wfile.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
