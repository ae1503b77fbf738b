"""What goes wrong between creditbot and a service over HTTP, for the stand-ins of QuickBooks (tests/qbo_standin.py)
and Slack (tests/slack_standin.py): faults queued for the next requests, and the service being unreachable.

This module decides which request meets which fault and does what the connection does (closed unanswered, answered
late, refused); each stand-in answers an HTTP status fault with its own service's documented error body (Intuit's
Fault, Slack's {"ok": false, "error": ...}), since those are what the client reads.

A fault is an HTTP status (429, 5xx) or one of `TRANSPORT_FAULTS`:
- "drop": the connection closed without an answer, before anything was done;
- "post-then-drop": the request carried out, then the connection closed: the answer is lost;
- "slow": the request carried out at once, its answer sent `slow_seconds` later (a shorter client timeout gives up).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Fault = int | str
TRANSPORT_FAULTS = ("drop", "post-then-drop", "slow")


class FaultQueue:
    """The faults the next requests meet, one each, in order, by route (a stand-in with one queue uses "")."""

    def __init__(self, known: Collection[Fault]) -> None:
        self._known = known
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = defaultdict(deque)

    def extend(self, faults: Collection[Fault], route: str = "") -> None:
        unknown = [fault for fault in faults if fault not in self._known]
        assert not unknown, f"no such fault {unknown}; the stand-in knows {sorted(map(str, self._known))}"
        with self._lock:
            self._queues[route].extend(faults)

    def take(self, route: str = "", transport: bool | None = None) -> Fault | None:
        """The next fault for `route`, taken off its queue. With `transport`, only a fault that is (True) or is not
        (False) one of `TRANSPORT_FAULTS`: another stays queued for the step that meets it."""
        with self._lock:
            queue = self._queues.get(route)
            if not queue or (transport is not None and (queue[0] in TRANSPORT_FAULTS) != transport):
                return None
            return queue.popleft()

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())


class FaultyService:
    """A stand-in's HTTP server on one local port, with the faults its requests meet.

    `down()` makes the service unreachable: new connections are refused (nothing listens on the port) until the
    block ends; a connection already open is closed at its next request, unanswered (`FaultyHandler.unreachable`).
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], known: Collection[Fault], poll_s: float = 0.5) -> None:
        self.faults = FaultQueue(known)
        self.retry_after: str | None = "0"  # a 429's Retry-After in seconds, as the service sends it; None: none
        self.slow_seconds = 1.0  # how late a "slow" fault's answer comes
        self.is_down = False
        self._handler, self._poll_s = handler, poll_s
        self.server = self._listen(0)

    def _listen(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        server.daemon_threads = True
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, args=(self._poll_s,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @contextmanager
    def down(self) -> Iterator[None]:
        port = self.server.server_address[1]
        self.is_down = True
        self.stop()
        try:
            yield
        finally:
            self.is_down = False
            self.server = self._listen(port)
            self.start()

    def retry_after_header(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after} if self.retry_after is not None else {}


class FaultyHandler(BaseHTTPRequestHandler):
    """A request handler that meets its request's fault: `hung_up_before` when it is answered at all, then
    `hung_up_after` once it was carried out (which also makes a "slow" answer late)."""

    protocol_version = "HTTP/1.1"  # so that a dropped request is a connection closed on a client that expects more
    service: FaultyService

    def unreachable(self) -> bool:
        """The service is down: the open connection closes, unanswered."""
        if self.service.is_down:
            self.close_connection = True
        return self.service.is_down

    def hung_up_before(self, fault: Fault | None) -> bool:
        """ "drop": the connection closes before anything is done."""
        if fault == "drop":
            self.close_connection = True
        return fault == "drop"

    def hung_up_after(self, fault: Fault | None) -> bool:
        """ "post-then-drop": the request was carried out, the connection closes, the answer is lost; "slow": the
        answer waits `slow_seconds`."""
        if fault == "post-then-drop":
            self.close_connection = True
            return True
        if fault == "slow":
            time.sleep(self.service.slow_seconds)
        return False

    def log_message(self, format: str, *args: object) -> None:
        return
