"""Fake OpenAI-compatible chat server for tests and benchmarks (stdlib only).

``python tests/fake_llm.py [--port 0] [--latency-ms N]`` listens on 127.0.0.1 and
prints ``PORT <n>`` once ready. ``FakeLLM`` runs that in a subprocess so the server
never competes with the client for the GIL.

Endpoints: ``POST /v1/chat/completions`` (or ``/chat/completions``), Anthropic's
``POST /v1/messages``, Gemini's ``POST .../models/<m>:generateContent`` (and
``:streamGenerateContent``), ``GET /v1/models``, ``POST /_control`` (``{"latency_ms",
"rules", "rate_limit_rps", "reset"}``), ``GET /_control/requests`` and ``GET /_control/stats``
(requests in flight, the most seen at once, how many were answered 429 by the rate limit).
A request in proxy form (``POST http://host/path``) is served too and logged as ``proxied``.

``rate_limit_rps`` admits that many chat requests per sliding second and answers the rest
429 with ``Retry-After`` (whole seconds) and ``retry-after-ms``.

Rules are checked in order. Each has an optional ``match`` (substring of the joined
message contents), ``times`` (uses left; absent = unlimited), ``delay_ms`` (added to
the global latency) and at most one behaviour: ``hang``, ``disconnect`` (close the
connection without a reply), ``status`` (with optional ``headers``, ``message``, ``type``,
``code``), ``raw_body``, ``tool_calls`` (a list of ``{"name", "arguments"}``; such a rule
only applies to requests that send ``tools`` without ``tool_choice: "none"``) or ``content``
(a string, or a list of strings cycled through). Streamed replies also take ``stream_interval_ms`` (a pause before each
event), ``cut_stream`` (end the body cleanly after that many events: no finish reason, no
``[DONE]``) and ``drop_stream`` (drop the connection after that many events). A content
rule with ``echo_header`` (a header name) appends that request header's value to the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from http import HTTPStatus
from typing import NamedTuple

LOG_CAP = 10_000
HANG_SECONDS = 600
MODEL = "fake-model"
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}
_ERRORS = {  # status -> (type, code), approximating OpenAI error bodies
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


class Reply(NamedTuple):
    """An HTTP response; ``events`` (SSE payloads) switches to chunked encoding, written one
    by one ``interval_ms`` apart; ``drop_after`` closes the connection after that many."""

    status: int = 200
    body: bytes = b""
    ctype: str = "application/json"
    headers: tuple = ()
    events: list | None = None
    interval_ms: float = 0
    drop_after: int | None = None


HANG = Reply(status=0)
DISCONNECT = Reply(status=-1)


def _json(obj, status: int = 200, headers: tuple = ()) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers=headers)


def _error(status: int, message: str | None = None, type_: str | None = None,
           code: str | None = None, headers: tuple = ()) -> Reply:
    default_type, default_code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None))
    err = {"message": message or _reason(status), "type": type_ or default_type,
           "param": None, "code": code if code is not None else default_code}
    return _json({"error": err}, status, headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _head(reply: Reply, keep_alive: bool) -> bytes:
    head = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            f"Content-Type: {reply.ctype}",
            "Connection: " + ("keep-alive" if keep_alive else "close")]
    head += [f"{k}: {v}" for k, v in reply.headers]
    if reply.events is None:
        head.append(f"Content-Length: {len(reply.body)}")
    else:
        head += ["Transfer-Encoding: chunked", "Cache-Control: no-cache"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def _chunk(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


def _encode(reply: Reply, keep_alive: bool) -> bytes:
    if reply.events is None:
        return _head(reply, keep_alive) + reply.body
    return _head(reply, keep_alive) + b"".join(map(_chunk, reply.events)) + b"0\r\n\r\n"


async def _write(writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> bool:
    """Send ``reply``; False when the connection was dropped on purpose."""
    if reply.events is None or not (reply.interval_ms or reply.drop_after is not None):
        writer.write(_encode(reply, keep_alive))
        await writer.drain()
        return True
    writer.write(_head(reply, keep_alive))
    for i, event in enumerate(reply.events):
        if i == reply.drop_after:
            return False
        if reply.interval_ms:
            await writer.drain()
            await asyncio.sleep(reply.interval_ms / 1000)
        writer.write(_chunk(event))
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts
        return " ".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def _split(text: str, parts: int = 4) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i:i + size] for i in range(0, len(text), size)]


def synthesize(schema: dict, root: dict | None = None, depth: int = 0):
    """Return a value satisfying a (pydantic-style) JSON schema."""
    root = schema if root is None else root
    # Past this depth, prefer empty arrays / null so recursive schemas terminate.
    deep = depth > 8
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return synthesize(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = schema[key]
            nulls = [o for o in options if o.get("type") == "null"]
            others = [o for o in options if o.get("type") != "null"]
            return synthesize((nulls if deep and nulls else others or options)[0], root, depth + 1)
    if schema.get("allOf"):
        merged = {}
        for sub in schema["allOf"]:
            value = synthesize(sub, root, depth + 1)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged
    type_ = schema.get("type")
    if isinstance(type_, list):
        type_ = next((t for t in type_ if t != "null"), "null")
    if type_ is None:
        type_ = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if type_ == "object":
        return {k: synthesize(v, root, depth + 1) for k, v in schema.get("properties", {}).items()}
    if type_ == "array":
        if deep:
            return []
        item = synthesize(schema.get("items") or {}, root, depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    return {"string": _FORMATS.get(schema.get("format"), "text"), "integer": 1, "number": 1.0,
            "boolean": True, "null": None}.get(type_, "text")


class FakeServer:
    """Request handling and mutable state of the fake server."""

    def __init__(self, latency_ms: float = 0):
        self.latency_ms = latency_ms
        self.rules: list[dict] = []
        self.log: deque = deque(maxlen=LOG_CAP)
        self.ids = itertools.count(1)
        self.rate_limit_rps: float | None = None
        self.admitted: deque = deque()  # times of requests the rate limit let through
        self.stats = {"in_flight": 0, "max_in_flight": 0, "requests": 0, "rate_limited": 0}
        self.generation = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one keep-alive connection."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    writer.write(_encode(_error(431), False))
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    writer.write(_encode(_error(400, "bad request line"), False))
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                conn = headers.get("connection", "").lower()
                keep = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
                try:
                    length = int(headers.get("content-length") or 0)
                except ValueError:
                    writer.write(_encode(_error(400, "bad content-length"), False))
                    return
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(length) if length else b""
                try:
                    reply = await self.dispatch(method, target, headers, body)
                except Exception as exc:  # surface server bugs to the test as a 500
                    reply = _error(500, repr(exc))
                if reply is HANG:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._until_eof(reader), HANG_SECONDS)
                    return
                if reply is DISCONNECT or not await _write(writer, reply, keep) or not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels in-flight handlers; returning normally avoids 3.11's
            # start_server callback logging a spurious traceback for each one.
            pass
        finally:
            writer.close()

    @staticmethod
    async def _until_eof(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    async def dispatch(self, method: str, target: str, headers: dict, body: bytes) -> Reply:
        proxied = "://" in target.split("?", 1)[0]
        if proxied:  # absolute form, as sent to a proxy
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        path = path.rstrip("/")
        if proxied:
            headers = {**headers, "x-proxied": "1"}
        kind = ("openai" if path in ("/v1/chat/completions", "/chat/completions")
                else "anthropic" if path.endswith("/v1/messages")
                else "gemini" if path.endswith((":generateContent", ":streamGenerateContent"))
                else None)
        if kind is not None:
            if method != "POST":
                return _error(405)
            generation = self.generation  # requests from before a reset are not counted after it
            self.stats["in_flight"] += 1
            self.stats["requests"] += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])
            try:
                limited = self.rate_limited()
                if limited is not None:
                    return limited
                if kind == "openai":
                    return await self.chat(path, headers, body)
                return await self.foreign(kind, path, query, headers, body)
            finally:
                if generation == self.generation:
                    self.stats["in_flight"] -= 1
        if path in ("/v1/models", "/models") and method == "GET":
            return _json({"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "fake-llm"}]})
        if path == "/_control" and method == "POST":
            return self.control(body)
        if path == "/_control/requests" and method == "GET":
            return _json(list(self.log))
        if path == "/_control/stats" and method == "GET":
            return _json(self.stats)
        return _error(404, f"no route for {method} {path}")

    def rate_limited(self) -> Reply | None:
        """A 429 when ``rate_limit_rps`` requests were already admitted in the last second."""
        if not self.rate_limit_rps:
            return None
        now = time.monotonic()
        while self.admitted and self.admitted[0] <= now - 1.0:
            self.admitted.popleft()
        if len(self.admitted) < self.rate_limit_rps:
            self.admitted.append(now)
            return None
        self.stats["rate_limited"] += 1
        wait = self.admitted[0] + 1.0 - now
        return _error(429, "rate limit reached", headers=(
            ("Retry-After", str(max(1, math.ceil(wait)))),
            ("retry-after-ms", str(max(1, round(wait * 1000))))))

    def control(self, body: bytes) -> Reply:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "invalid JSON")
        if payload.get("reset"):
            self.rules, self.latency_ms, self.rate_limit_rps = [], 0, None
            self.log.clear()
            self.admitted.clear()
            self.stats.update(requests=0, in_flight=0, max_in_flight=0, rate_limited=0)
            self.generation += 1
        if "rate_limit_rps" in payload:
            self.rate_limit_rps = payload["rate_limit_rps"]
            self.admitted.clear()
        if payload.get("latency_ms") is not None:
            self.latency_ms = payload["latency_ms"]
        if payload.get("rules") is not None:
            rules = payload["rules"]
            if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                return _error(400, "rules must be a list of objects")
            self.rules = rules
        return _json({"ok": True, "latency_ms": self.latency_ms, "rules": len(self.rules)})

    def pick_rule(self, text: str, has_tools: bool) -> dict | None:
        for rule in self.rules:
            times = rule.get("times")
            if times is not None and times <= 0:
                continue
            if rule.get("match") is not None and rule["match"] not in text:
                continue
            if "tool_calls" in rule and not has_tools:
                continue
            if times is not None:
                rule["times"] = times - 1
            return rule
        return None

    async def chat(self, path: str, headers: dict, body: bytes) -> Reply:
        try:
            req = json.loads(body)
        except ValueError:
            return _error(400, "invalid JSON body")
        if not isinstance(req, dict):
            return _error(400, "body must be a JSON object")
        self.log.append({**req, "path": path, "headers": headers})
        messages = [m for m in req.get("messages") or [] if isinstance(m, dict)]
        texts = [_text(m.get("content")) for m in messages]
        may_call = bool(req.get("tools")) and req.get("tool_choice") != "none"
        rule = self.pick_rule("\n".join(texts), may_call) or {}
        early = await self.before_reply(rule)
        if early is not None:
            return early
        tool_calls = None
        content = None
        if "tool_calls" in rule:
            tool_calls = [self.tool_call(call) for call in rule["tool_calls"]]
        else:
            content = self.content(rule, req, messages)
            if rule.get("echo_header"):  # a provider that echoes a request header back
                content += f" {rule['echo_header']}: {headers.get(rule['echo_header'].lower(), '')}"
        completion_text = content if tool_calls is None else " ".join(
            c["function"]["arguments"] for c in tool_calls)
        prompt_tokens = max(1, sum(len(t.split()) for t in texts))
        completion_tokens = max(1, len(completion_text.split()))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        meta = {"id": f"chatcmpl-fake{next(self.ids)}", "created": int(time.time()),
                "model": req.get("model") or MODEL}
        finish = "tool_calls" if tool_calls else "stop"
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            return _shaped(self.stream(meta, content, tool_calls, finish,
                                       usage if include_usage else None), rule)
        message = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return _json({**meta, "object": "chat.completion",
                      "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                      "usage": usage})

    async def before_reply(self, rule: dict) -> Reply | None:
        """Apply a rule's delay; the reply when the rule decides it alone."""
        if rule.get("hang"):
            return HANG
        delay = self.latency_ms + rule.get("delay_ms", 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if rule.get("disconnect"):
            return DISCONNECT
        if "status" in rule:
            return _error(rule["status"], rule.get("message"), rule.get("type"), rule.get("code"),
                          tuple((rule.get("headers") or {}).items()))
        if "raw_body" in rule:
            return Reply(body=rule["raw_body"].encode())
        return None

    def content(self, rule: dict, req: dict, messages: list[dict]) -> str:
        if "content" not in rule:
            return self.default_content(req, messages)
        content = rule["content"]
        if isinstance(content, list):
            n = rule.get("_served", 0)
            rule["_served"] = n + 1
            content = content[n % len(content)]
        return content

    async def foreign(self, kind: str, path: str, query: str, headers: dict, body: bytes) -> Reply:
        """Anthropic's Messages API or Gemini's generateContent, text replies only."""
        try:
            req = json.loads(body)
        except ValueError:
            return _error(400, "invalid JSON body")
        self.log.append({**req, "path": path, "headers": headers})
        if kind == "anthropic":
            texts = [_text(m.get("content")) for m in req.get("messages") or []]
        else:
            texts = [" ".join(p.get("text") or "" for p in c.get("parts") or [])
                     for c in req.get("contents") or []]
        rule = self.pick_rule("\n".join(texts), False) or {}
        early = await self.before_reply(rule)
        if early is not None:
            return early
        content = (rule["content"] if "content" in rule else "echo: " + (texts or [""])[-1][:60])
        if isinstance(content, list):
            content = self.content(rule, {}, [])
        prompt_tokens = max(1, sum(len(t.split()) for t in texts))
        completion_tokens = max(1, len(content.split()))
        if kind == "anthropic":
            return _anthropic(req, content, prompt_tokens, completion_tokens, next(self.ids), rule)
        return _gemini(path.endswith(":streamGenerateContent"), content, prompt_tokens,
                       completion_tokens, rule)

    def tool_call(self, call: dict) -> dict:
        args = call.get("arguments", {})
        return {"id": call.get("id") or f"call_{next(self.ids)}", "type": "function",
                "function": {"name": call["name"],
                             "arguments": args if isinstance(args, str) else json.dumps(args)}}

    @staticmethod
    def default_content(req: dict, messages: list[dict]) -> str:
        fmt = req.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return json.dumps(synthesize((fmt.get("json_schema") or {}).get("schema") or {}))
        if fmt.get("type") == "json_object":
            return json.dumps({"result": "text"})
        last_user = next((_text(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
        return "echo: " + last_user[:60]

    @staticmethod
    def stream(meta: dict, content: str | None, tool_calls: list | None, finish: str,
               usage: dict | None) -> Reply:
        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            out = {**meta, "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if usage is not None:
                out["usage"] = None  # as OpenAI does when include_usage is set
            return out

        if tool_calls:
            chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": i, "id": c["id"], "type": "function",
                 "function": {"name": c["function"]["name"], "arguments": ""}}
                for i, c in enumerate(tool_calls)]})]
            chunks += [chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                       for i, c in enumerate(tool_calls)
                       for piece in _split(c["function"]["arguments"])]
        else:
            chunks = [chunk({"role": "assistant", "content": ""})]
            chunks += [chunk({"content": piece}) for piece in _split(content)]
        chunks.append(chunk({}, finish))
        if usage is not None:
            chunks.append({**meta, "object": "chat.completion.chunk", "choices": [],
                           "usage": usage})
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
        events.append(b"data: [DONE]\n\n")
        return Reply(ctype="text/event-stream", events=events)


def _shaped(reply: Reply, rule: dict) -> Reply:
    """A streamed reply paced, cut short or dropped as ``rule`` asks."""
    events = reply.events
    if rule.get("cut_stream") is not None:
        events = events[:rule["cut_stream"]]
    return reply._replace(events=events, interval_ms=rule.get("stream_interval_ms", 0),
                          drop_after=rule.get("drop_stream"))


def _sse(events: list[tuple[str | None, dict]]) -> list[bytes]:
    return [(f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode()
            + b"\n\n" for name, data in events]


def _anthropic(req: dict, content: str, prompt_tokens: int, completion_tokens: int, n: int,
               rule: dict) -> Reply:
    message = {"id": f"msg_fake{n}", "type": "message", "role": "assistant",
               "model": req.get("model") or MODEL, "stop_sequence": None}
    usage = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}
    if not req.get("stream"):
        return _json({**message, "content": [{"type": "text", "text": content}],
                      "stop_reason": "end_turn", "usage": usage})
    events = [("message_start", {"type": "message_start", "message": {
                  **message, "content": [], "stop_reason": None,
                  "usage": {"input_tokens": prompt_tokens, "output_tokens": 0}}}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": piece}})
               for piece in _split(content)]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": completion_tokens}}),
               ("message_stop", {"type": "message_stop"})]
    return _shaped(Reply(ctype="text/event-stream", events=_sse(events)), rule)


def _gemini(stream: bool, content: str, prompt_tokens: int, completion_tokens: int,
            rule: dict) -> Reply:
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": completion_tokens,
             "totalTokenCount": prompt_tokens + completion_tokens}

    def candidate(text: str, finish: str | None) -> dict:
        out = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        return {**out, "finishReason": finish} if finish else out

    if not stream:
        return _json({"candidates": [candidate(content, "STOP")], "usageMetadata": usage,
                      "modelVersion": MODEL})
    pieces = _split(content)
    events = [(None, {"candidates": [candidate(p, None)]}) for p in pieces[:-1]]
    events.append((None, {"candidates": [candidate(pieces[-1], "STOP")], "usageMetadata": usage}))
    return _shaped(Reply(ctype="text/event-stream", events=_sse(events)), rule)


async def serve(port: int = 0, latency_ms: float = 0, exit_on_stdin_eof: bool = False) -> None:
    """Run the server until SIGTERM/SIGINT (or stdin EOF when asked)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        # The parent holds our stdin pipe, so EOF means it went away without close().
        def on_stdin() -> None:
            if not os.read(0, 4096):
                stop.set()

        loop.add_reader(0, on_stdin)
    app = FakeServer(latency_ms)
    server = await asyncio.start_server(app.handle, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


class FakeLLM:
    """The fake server in a subprocess, plus helpers to drive its control endpoint."""

    _opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never proxy localhost

    def __init__(self, latency_ms: float = 0, port: int = 0, startup_timeout: float = 10.0):
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--port", str(port),
             "--latency-ms", str(latency_ms), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        ready, _, _ = select.select([self._proc.stdout], [], [], startup_timeout)
        line = self._proc.stdout.readline().decode() if ready else ""
        self._proc.stdout.close()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"fake LLM server failed to start (got {line!r})")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"

    def _call(self, path: str, payload: dict | None = None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        with self._opener.open(req, timeout=10) as resp:
            return json.load(resp)

    def configure(self, latency_ms: float | None = None, rules: list[dict] | None = None,
                  **extra) -> None:
        """Set the global latency and/or replace the rule list (None leaves it unchanged);
        ``rate_limit_rps=R`` (or None) switches the rate limit."""
        self._call("/_control", {"latency_ms": latency_ms, "rules": rules, **extra})

    def stats(self) -> dict:
        """``in_flight``, ``max_in_flight``, ``requests`` and ``rate_limited`` since the reset."""
        return self._call("/_control/stats")

    def reset(self) -> None:
        """Clear rules and the request log; latency back to 0."""
        self._call("/_control", {"reset": True})

    def requests(self) -> list[dict]:
        """Logged chat request bodies, each with ``path`` and lower-cased ``headers``."""
        return self._call("/_control/requests")

    def sent(self, prefix: str) -> int:
        """How many logged chat requests end with a message starting with ``prefix``."""
        return sum(1 for r in self.requests() if r["messages"][-1]["content"].startswith(prefix))

    def close(self) -> None:
        """Stop the server's process group; idempotent."""
        proc = self.__dict__.pop("_proc", None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdin.close()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # modules may already be torn down at interpreter exit
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (used by FakeLLM so servers never outlive it)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.latency_ms, args.exit_on_stdin_eof))


if __name__ == "__main__":
    main()
