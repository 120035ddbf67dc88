"""permessage-deflate interop with Python's websockets (sync client).

    peers.py URL

Opens a compressing client and a plain one in one room of the relay at URL,
sends compressible JSON both ways and a short message, checks what arrives,
and prints the extension each side negotiated. Exits non-zero on any mismatch.
"""
import json
import sys

from websockets.sync.client import connect


def message(n):
    return json.dumps([{"symbol": "BTC-USD", "bid": 60000 + i, "ask": 60001 + i, "seq": n} for i in range(40)])


def main(url):
    with connect(url, compression="deflate") as zipped, connect(url, compression=None) as plain:
        extensions = zipped.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in extensions, f"not negotiated: {extensions!r}"
        assert "Sec-WebSocket-Extensions" not in plain.response.headers
        for ws in (zipped, plain):
            assert ws.recv(timeout=10) == "Hello, World!"
        for sender, receiver, n in ((zipped, plain, 1), (plain, zipped, 2)):
            sender.send(message(n))
            assert receiver.recv(timeout=10) == message(n), "a JSON message arrived changed"
        zipped.send("short")
        assert plain.recv(timeout=10) == "short"
        plain.send(b"\x00\x01binary" * 50)
        assert zipped.recv(timeout=10) == b"\x00\x01binary" * 50
        print(f"websockets ok: {extensions}")


if __name__ == "__main__":
    main(sys.argv[1])
