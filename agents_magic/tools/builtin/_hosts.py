"""Is a URL on a node's allowed hosts? Decided on the parsed URL the client will connect to.

The URL is parsed by yarl (the parser aiohttp connects with, so check and use agree); then the
host is put in one canonical form: lower case, no trailing dots, IDNA (punycode), and IP
literals in every notation libc accepts (``2130706433``, ``0x7f.1``, ``017700000001``,
``[::ffff:127.0.0.1]``) as the address they mean. URLs with user information are refused.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING

from agents_magic.tools._tool import ToolArgumentsError, ToolError

if TYPE_CHECKING:
    import yarl

_NUMERIC = re.compile(r"[0-9a-fx.]+")


def canonical_host(host: str) -> str:
    """``host`` as one spelling per destination."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address is not None:
        return str(address)
    if _NUMERIC.fullmatch(host):
        try:  # what getaddrinfo would make of it: decimal, octal, hex, shortened forms
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ToolError(f"`{host}` is not a valid host name") from None


class Hosts:
    """The hosts (``name``, ``name:port``, ``*.domain``) a network tool may reach."""

    def __init__(self, tool: str, allowed: list[str]) -> None:
        if not allowed:
            raise ToolError(f"{tool} is off: list the hosts it may reach in config `allowed_hosts`")
        self.exact: set[tuple[str, int | None]] = set()
        self.suffixes: list[str] = []
        for entry in allowed:
            name, port = _split_port(entry)
            if name.startswith("*."):
                self.suffixes.append("." + canonical_host(name[2:]))
            else:
                self.exact.add((canonical_host(name), port))
        self.shown = ", ".join(allowed)

    def check(self, raw: str | yarl.URL) -> yarl.URL:
        """The parsed URL if it is http(s) to an allowed host, else a `ToolError`."""
        import yarl

        try:
            url = raw if isinstance(raw, yarl.URL) else yarl.URL(raw)
        except (ValueError, TypeError) as error:
            raise ToolArgumentsError(f"`{raw}` is not a valid URL: {error}") from None
        if url.scheme not in ("http", "https"):
            raise ToolError(f"only http and https URLs are allowed, not `{url.scheme or raw}`")
        if url.user is not None or url.password is not None:
            raise ToolError("URLs with user information (`user@host`) are not allowed")
        if not url.raw_host:
            raise ToolArgumentsError(f"`{raw}` has no host")
        host = canonical_host(url.raw_host)
        if ((host, None) in self.exact or (host, url.port) in self.exact
                or any(host.endswith(s) for s in self.suffixes)):
            return url
        raise ToolError(f"host `{host}` is not allowed (allowed: {self.shown})")


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    bracketed = re.fullmatch(r"\[(.+)\](?::(\d+))?", entry)
    if bracketed:
        return bracketed.group(1), int(bracketed.group(2)) if bracketed.group(2) else None
    if entry.count(":") == 1:
        name, port = entry.split(":")
        if port.isdigit():
            return name, int(port)
    return entry, None
