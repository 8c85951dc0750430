"""`http_client`, `web_scrape`, `web_search`: http(s) to the node's allowed hosts only.

Every hop of a redirect is checked again (`_hosts.Hosts.check`); environment proxies are
ignored, no cookies are kept, caller headers are dropped when a redirect changes host, and
bodies are read up to a cap (after decompression). `web_search` calls a configured endpoint
(a SearxNG-style JSON API on an allowed host); there is no default remote service.
"""
from __future__ import annotations

import html.parser
import json
from typing import Any

from pydantic import Field

from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, clip, settings
from agents_magic.tools.builtin._hosts import Hosts

_REDIRECTS = {301, 302, 303, 307, 308}
_REFUSED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class NetSettings(Settings):
    allowed_hosts: list[str] = []
    timeout: float = Field(15.0, gt=0, le=300)
    max_bytes: int = Field(1_000_000, gt=0, le=100_000_000)
    max_redirects: int = Field(5, ge=0, le=20)


class HttpSettings(NetSettings):
    methods: list[str] = ["GET", "HEAD"]


class SearchSettings(NetSettings):
    endpoint: str
    query_param: str = "q"
    params: dict[str, str] = {"format": "json"}
    max_results: int = Field(10, gt=0, le=100)


async def fetch(hosts: Hosts, cfg: NetSettings, url: str, method: str = "GET",
                headers: dict[str, str] | None = None, body: str | None = None,
                params: dict[str, str] | None = None) -> dict[str, Any]:
    """One request, following redirects only to allowed hosts; the body read up to the cap."""
    import aiohttp

    target = hosts.check(url)
    if params:
        target = hosts.check(target.update_query(params))
    headers = dict(headers or {})
    bad = [h for h in headers if h.lower() in _REFUSED_HEADERS]
    if bad:
        raise ToolError(f"header `{bad[0]}` cannot be set")
    timeout = aiohttp.ClientTimeout(total=cfg.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            for _ in range(cfg.max_redirects + 1):
                async with session.request(method, target, headers=headers, data=body,
                                           allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in _REDIRECTS and location:
                        following = hosts.check(target.join(_url(location)))
                        if following.host != target.host:
                            headers = {}  # what the caller meant for one host stays there
                        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                            method, body = "GET", None
                        target = following
                        continue
                    data = await response.content.read(cfg.max_bytes + 1)
                    return {"url": str(target), "status": response.status,
                            "content_type": response.headers.get("Content-Type", ""),
                            "data": data[:cfg.max_bytes], "truncated": len(data) > cfg.max_bytes,
                            "charset": response.charset or "utf-8"}
    except aiohttp.ClientError as error:
        raise ToolError(f"request to {target.host} failed: {error}") from None
    except TimeoutError:
        raise ToolError(f"request to {target.host} took longer than {cfg.timeout:g} s") from None
    raise ToolError(f"more than {cfg.max_redirects} redirects")


def _url(text: str) -> Any:
    import yarl

    try:
        return yarl.URL(text)
    except ValueError:
        raise ToolError(f"bad redirect location `{text}`") from None


def _text(reply: dict[str, Any]) -> str:
    return reply["data"].decode(reply["charset"], errors="replace")


def _off_description(hosts: Hosts) -> str:
    return f"Only these hosts can be reached: {hosts.shown}."


def http_client(**config: Any) -> Tool:
    """An HTTP request to an allowed host."""
    cfg = settings("http_client", HttpSettings, config)
    hosts = Hosts("http_client", cfg.allowed_hosts)
    methods = [m.upper() for m in cfg.methods]

    async def request(url: str, method: str = "GET", headers: dict[str, str] | None = None,
                      body: str | None = None) -> dict[str, Any]:
        if method.upper() not in methods:
            raise ToolError(f"method `{method}` is not allowed (allowed: {', '.join(methods)})")
        reply = await fetch(hosts, cfg, url, method.upper(), headers, body)
        return {"url": reply["url"], "status": reply["status"], "content_type": reply["content_type"],
                "body": _text(reply), "truncated": reply["truncated"]}

    return Tool("http_client",
                f"Make an HTTP request ({', '.join(methods)}) and get status and body (at most "
                f"{cfg.max_bytes} bytes). " + _off_description(hosts),
                arguments({
                    "url": {"type": "string"}, "method": {"type": "string", "enum": methods},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {"type": "string"}},
                    "url"),
                request)


class _Page(html.parser.HTMLParser):
    """Visible text, title and links of an HTML page."""

    _HIDDEN = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.title = ""
        self.links: list[str] = []
        self.hidden = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self._HIDDEN
        self.in_title = self.in_title or tag == "title"
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self._HIDDEN and self.hidden > 0
        self.in_title = self.in_title and tag != "title"

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif not self.hidden and data.strip():
            self.text.append(data.strip())


def web_scrape(**config: Any) -> Tool:
    """The readable text and links of a web page on an allowed host."""
    cfg = settings("web_scrape", NetSettings, config)
    hosts = Hosts("web_scrape", cfg.allowed_hosts)

    async def scrape(url: str, max_links: int = 50) -> dict[str, Any]:
        reply = await fetch(hosts, cfg, url)
        page = _Page()
        page.feed(_text(reply))
        base = _url(reply["url"])
        links = list(dict.fromkeys(str(base.join(_url(h))) for h in page.links if not h.startswith("#")))
        text, cut = clip("\n".join(page.text), cfg.max_bytes)
        return {"url": reply["url"], "status": reply["status"], "title": page.title.strip(),
                "text": text, "links": links[:max(0, max_links)], "truncated": cut or reply["truncated"]}

    return Tool("web_scrape",
                "Fetch a web page and get its title, visible text and links. " + _off_description(hosts),
                arguments({
                    "url": {"type": "string"}, "max_links": {"type": "integer", "minimum": 0}},
                    "url"),
                scrape)


def web_search(**config: Any) -> Tool:
    """A web search through a configured search endpoint (SearxNG-style JSON)."""
    cfg = settings("web_search", SearchSettings, config)
    hosts = Hosts("web_search", cfg.allowed_hosts)
    try:
        hosts.check(cfg.endpoint)
    except ToolError as error:
        raise ToolError(f"web_search: config `endpoint`: {error}") from None

    async def search(query: str) -> dict[str, Any]:
        if not query.strip():
            raise ToolArgumentsError("the query is empty")
        reply = await fetch(hosts, cfg, cfg.endpoint, params={**cfg.params, cfg.query_param: query})
        try:
            found = json.loads(_text(reply))
        except ValueError:
            raise ToolError(f"the search endpoint did not answer JSON (status {reply['status']})") from None
        items = found if isinstance(found, list) else next(
            (found[k] for k in ("results", "items", "organic_results")
             if isinstance(found, dict) and isinstance(found.get(k), list)), [])
        results = [{"title": str(i.get("title", "")), "url": str(i.get("url") or i.get("link") or ""),
                    "snippet": str(i.get("content") or i.get("snippet") or i.get("description") or "")}
                   for i in items if isinstance(i, dict)]
        return {"query": query, "results": results[:cfg.max_results]}

    return Tool("web_search",
                f"Search the web and get up to {cfg.max_results} results (title, url, snippet).",
                arguments({"query": {"type": "string"}}, "query"),
                search)
