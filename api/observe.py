"""One JSON line per request on stderr, the request id, and the HTTP metrics.

``Observer`` is a pure ASGI middleware around the whole application, its error handlers included, so it sees
every answer with its final status (the fast routes, FastAPI's routes, 404s and failures alike). It gives
each request an id (an incoming ``X-Request-Id`` of 32 hex digits, dashed as a UUID or not, is kept; else a
new one) and echoes it in the ``X-Request-Id`` response header.

A line holds the time, the request id, the method, the route template (for a path no route matched, the
path with every segment that could carry data replaced by ``*``; never the query string), the status, the
problem type's slug for a refusal, the latency in milliseconds, and what handlers tell of the request
(``note``): for appends and queries the statement ids and positions, for a batch its counts, the range of
positions it was appended at and its refusals by problem type. Never a subject, a name, a summary, a body,
a header or a key.

Lines go to stderr through ``LineWriter``: the event loop only appends the encoded line to a queue; a thread
of its own writes the first line after a pause at once, and then what gathered in each 20 ms in a few
``write`` calls: at most 50 wake-ups a second, not one per line (waking the thread for each line cost tens
of µs of CPU a request, measured at one request every 2 ms: more than the rest of the line's work). A
reader of stderr that stops reading (a full pipe) holds up that thread only; past 20,000 waiting lines new
ones are dropped and counted (``credit_ledger_access_log_dropped_lines_total``).
"""

from __future__ import annotations

import collections
import os
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import METHODS, Metrics

KEY = "credit_ledger.observe"
"""Scope key of the dict in which handlers tell the log what a request did (``note``)."""
HEADER = b"x-request-id"
PROBLEM_MEDIA_TYPE = b"application/problem+json"
PROBLEM_PREFIX = "urn:credit-ledger:problem:"
_REQUEST_ID = re.compile(rb"[0-9a-fA-F]{8}(-?)[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{12}")
_SEGMENT = re.compile(r"[A-Za-z_.~-][A-Za-z0-9_.~-]{0,39}")


def note(request: Request, **fields: Any) -> None:
    """Tell the request's log line (and metrics) what the request did: statement ids, positions, counts."""
    found = request.scope.get(KEY)
    if found is not None:
        found.update(fields)


class Templates:
    """The template of the route that answered a request (``/v1/public/lists/{listing}``), if one matched.

    FastAPI's routes put themselves in the scope (``route``); plain Starlette routes and mounts (the fast
    routes, static files) only their endpoint, which is looked up among the app's routes."""

    def __init__(self, routes: Callable[[], list[BaseRoute]]) -> None:
        self.routes = routes
        self._by_endpoint: dict[int, str] | None = None
        self._words: frozenset[str] | None = None

    def __call__(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is not None:
            path = getattr(route, "path", None)
            if not isinstance(path, str):
                return None
            return path + "/{path}" if isinstance(route, Mount) else path
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return None
        if self._by_endpoint is None:
            found: dict[int, str] = {}
            for each in self.routes():
                if isinstance(each, Mount):
                    found[id(each.app)] = each.path + "/{path}"
                elif isinstance(getattr(each, "path", None), str) and hasattr(each, "endpoint"):
                    found.setdefault(id(each.endpoint), each.path)  # type: ignore[attr-defined]
            self._by_endpoint = found
        return self._by_endpoint.get(id(endpoint))


    def words(self) -> frozenset[str]:
        """Every fixed segment of the app's route paths (``v1``, ``public``, ``lists``, ...)."""
        if self._words is None:
            self._words = frozenset(part for path in _paths(self.routes()) for part in path.split("/")
                                    if part and "{" not in part)
        return self._words


def _paths(routes: list[Any]) -> list[str]:
    """The path of every route, into included routers too (whose prefix is a path of its own)."""
    found: list[str] = []
    for each in routes:
        path = getattr(each, "path", None)
        if isinstance(path, str):
            found.append(path)
        inner = getattr(each, "original_router", None) or getattr(each, "router", None)
        if inner is not None and inner is not each:
            prefix = getattr(inner, "prefix", "")
            if isinstance(prefix, str):
                found.append(prefix)
            found += _paths(list(getattr(inner, "routes", [])))
    return found


def unmatched_path(path: str, words: frozenset[str] = frozenset()) -> str:
    """A path no route matched, each segment that is not one of the app's own route words as ``*``: whatever a
    client puts in a path (an ID number, a name in any script) is never logged."""
    parts = path.split("/")[:12]
    return "/".join(p if not p or (p in words and _SEGMENT.fullmatch(p)) else "*" for p in parts)


class LineWriter:
    """Writes lines to a file descriptor from a thread of its own; ``write`` never blocks."""

    GATHER = 0.02
    CHUNK = 4096  # at most PIPE_BUF per write: a line is never split by another process writing to the pipe

    def __init__(self, fd: int = 2, limit: int = 20_000, dropped: Callable[[int], None] | None = None) -> None:
        self.fd = fd
        self.limit = limit
        self.on_dropped = dropped
        self.dropped = 0
        self._lines: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def write(self, line: bytes) -> None:
        """Queue one line (with its newline) for the writer thread."""
        if len(self._lines) >= self.limit:
            self.dropped += 1
            if self.on_dropped is not None:
                self.on_dropped(1)
            return
        self._lines.append(line)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Write what is queued (waiting at most ``timeout`` for a reader that does not read) and stop."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self._drain()
            if self._stopping:
                return
            time.sleep(self.GATHER)  # the lines of the next 20 ms share one wake-up and one drain

    def _drain(self) -> int:
        """Write every queued line; how many there were."""
        lines = self._lines
        count = 0
        while lines:
            chunk = bytearray(lines.popleft())
            count += 1
            while lines and len(chunk) + len(lines[0]) <= self.CHUNK:
                chunk += lines.popleft()
                count += 1
            view = memoryview(chunk)
            try:
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError:  # stderr closed: nothing more can be written
                lost = 1 + len(lines)
                lines.clear()
                self.dropped += lost
                if self.on_dropped is not None:
                    self.on_dropped(lost)
                return count
        return count


class Clock:
    """RFC 3339 UTC time with milliseconds; the part up to the second is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((t - second) * 1000):03d}Z"


class Observer:
    """ASGI middleware: the request id, one log line per request (``log``), the HTTP metrics (``metrics``)."""

    def __init__(self, app: ASGIApp, routes: Callable[[], list[BaseRoute]], *, log: LineWriter | None,
                 metrics: Metrics | None) -> None:
        self.app = app
        self.route_of = Templates(routes)
        self._ids = random.Random(os.urandom(32))  # ids need only be unique: no system call per request
        self.log = log
        self.metrics = metrics
        self.clock = Clock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _REQUEST_ID.fullmatch(value):
                    request_id = value.decode("ascii").lower()
                break
        if request_id is None:
            request_id = f"{self._ids.getrandbits(128):032x}"
        header = (HEADER, request_id.encode("ascii"))
        told: dict[str, Any] = {}
        scope[KEY] = told
        status = 500
        problem: str | None = None
        is_problem = False

        async def respond(message: Message) -> None:
            nonlocal status, problem, is_problem
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))  # a copy: a response object may be sent again
                for name, value in headers:
                    if name == b"content-type":
                        is_problem = value.startswith(PROBLEM_MEDIA_TYPE)
                        break
                headers.append(header)
                message["headers"] = headers
            elif is_problem and problem is None and message["type"] == "http.response.body":
                problem = _slug(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, respond)
        finally:
            seconds = time.perf_counter() - started
            route = self.route_of(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"  # any other text is the client's
            if self.metrics is not None:
                self.metrics.request(method, route or "unmatched", status, seconds, problem, told.get("problems"))
            if self.log is not None:
                line: dict[str, Any] = {
                    "time": self.clock.now(), "request_id": request_id, "method": method,
                    "path": route or unmatched_path(scope["path"], self.route_of.words()), "status": status,
                    "ms": round(seconds * 1000, 3),
                }
                if problem is not None:
                    line["problem"] = problem
                if told:
                    line.update(told)
                self.log.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))


def _slug(body: bytes) -> str:
    """The slug of a problem body's ``type`` (``unknown`` if it has none)."""
    try:
        kind = orjson.loads(body).get("type", "")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return kind[len(PROBLEM_PREFIX):] if isinstance(kind, str) and kind.startswith(PROBLEM_PREFIX) else "unknown"
