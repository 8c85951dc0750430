"""Network tools against a local HTTP server on 127.0.0.1: allowed hosts work, every other
destination is refused before any request is made, redirects are checked per hop."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import Box

from agents_magic.tools import ToolError
from agents_magic.tools.builtin import BUILTINS

PAGE = b"""<html><head><title>Shop</title><script>var s = 'hidden';</script></head>
<body><h1>Welcome</h1><p>Fresh &amp; cheap</p><a href="/about">About</a></body></html>"""


class Server:
    def __init__(self) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.hits.append(self.path)
                url = urlparse(self.path)
                if url.path == "/page":
                    self._send(200, PAGE, "text/html; charset=utf-8")
                elif url.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(url.query)["to"][0])
                    self.end_headers()
                elif url.path == "/search":
                    q = parse_qs(url.query)["q"][0]
                    body = {"results": [{"title": f"About {q}", "url": "http://x/1", "content": "one"}] * 3}
                    self._send(200, json.dumps(body).encode(), "application/json")
                elif url.path == "/big":
                    self._send(200, b"z" * 50_000, "text/plain")
                else:
                    self._send(200, b"ok:" + self.path.encode(), "text/plain")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def base(server: Server) -> str:
    server.hits.clear()
    return f"http://127.0.0.1:{server.port}"


def test_allowed_requests(server: Server, base: str):
    http = BUILTINS["http_client"](allowed_hosts=["127.0.0.1"])
    got = http(url=f"{base}/hello")
    assert got["status"] == 200 and got["body"] == "ok:/hello"
    # Other notations of the allowed address pass the host check; the client itself then
    # refuses the non-canonical ones, so they never reach anywhere else.
    for spelling in ["2130706433", "0x7f.1", "127.0.0.1.", "[::ffff:127.0.0.1]"]:
        try:
            assert http(url=f"http://{spelling}:{server.port}/n")["body"] == "ok:/n"
        except ToolError as error:
            assert "not allowed" not in str(error)
    assert http(url=f"{base}/redirect?to=/landed")["body"] == "ok:/landed"
    capped = BUILTINS["http_client"](allowed_hosts=["127.0.0.1"], max_bytes=1000)(url=f"{base}/big")
    assert len(capped["body"]) == 1000 and capped["truncated"]
    page = BUILTINS["web_scrape"](allowed_hosts=[f"127.0.0.1:{server.port}"])(url=f"{base}/page")
    assert page["title"] == "Shop" and "Fresh & cheap" in page["text"] and "hidden" not in page["text"]
    assert page["links"] == [f"{base}/about"]
    search = BUILTINS["web_search"](allowed_hosts=["127.0.0.1"], endpoint=f"{base}/search", max_results=2)
    found = search(query="cats")
    assert [r["title"] for r in found["results"]] == ["About cats", "About cats"]


def test_off_unless_hosts_are_listed(base: str):
    for name in ("http_client", "web_scrape"):
        with pytest.raises(ToolError, match="is off"):
            BUILTINS[name]()
    with pytest.raises(ToolError, match="endpoint"):
        BUILTINS["web_search"](allowed_hosts=["127.0.0.1"])
    with pytest.raises(ToolError, match="not allowed"):
        BUILTINS["web_search"](allowed_hosts=["127.0.0.1"], endpoint="https://search.example.com/")
    with pytest.raises(ToolError, match="did you mean `allowed_hosts`"):
        BUILTINS["http_client"](allowed_host=["127.0.0.1"])


NETWORK_ABUSE = [
    ("other host", "http://example.com/", "not allowed"),
    ("userinfo trick", "http://127.0.0.1@example.com/", "user information"),
    ("userinfo with password", "http://127.0.0.1:x@example.com/", "user information"),
    ("fragment trick", "http://example.com#@127.0.0.1/", "not allowed"),
    ("file scheme", "file:///etc/passwd", "only http"),
    ("ftp scheme", "ftp://127.0.0.1/", "only http"),
    ("gopher scheme", "gopher://127.0.0.1:{port}/", "only http"),
    ("IPv6 loopback is another host", "http://[::1]:{port}/", "not allowed"),
    ("other loopback address", "http://127.0.0.2:{port}/", "not allowed"),
    ("decimal notation of another address", "http://2130706434:{port}/", "not allowed"),
    ("octal notation of another address", "http://0177.0.0.2:{port}/", "not allowed"),
    ("localhost is another name", "http://localhost:{port}/", "not allowed"),
    ("IDN homograph", "http://ex\u0430mple.com/", "not allowed"),
    ("metadata address", "http://169.254.169.254/latest/meta-data/", "not allowed"),
    ("redirect to another host", "{base}/redirect?to=http://example.com/", "not allowed"),
    ("redirect to another port", "{base}/redirect?to=http://127.0.0.1:1/", "not allowed"),
    ("redirect to a file URL", "{base}/redirect?to=file:///etc/passwd", "only http"),
    ("redirect to userinfo", "{base}/redirect?to=http://127.0.0.1@example.com/", "user information"),
]


@pytest.mark.parametrize(("case", "url", "message"), NETWORK_ABUSE, ids=[n[0] for n in NETWORK_ABUSE])
def test_abuse_network(box: Box, server: Server, base: str, case: str, url: str, message: str):
    allowed = [f"127.0.0.1:{server.port}", "example.org"]
    url = url.format(port=server.port, base=base)
    for name in ("http_client", "web_scrape"):
        tool = BUILTINS[name](allowed_hosts=allowed, timeout=5)
        server.hits.clear()
        box.refused(lambda tool=tool: tool(url=url), match=message)
        # Only the allowed first hop of a redirect ever reached a server.
        assert all(hit.startswith("/redirect") for hit in server.hits)
