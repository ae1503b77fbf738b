"""A tiny stand-in for Slack's Web API that can misbehave at the HTTP level, for the alert tests.

(`tests/slack_standin.py` answers like a healthy Slack and drives the bot; the alert tests also need what it
does not do: HTTP 500, 429 with Retry-After, connections dropped, and `conversations.history` with metadata.)

- `faults`: per method, a queue of what to do with the next requests: "500", "503", "429" (with Retry-After:
  0), "drop" (close the connection without answering, before doing anything), or "post-then-drop" (post the
  message, then drop the connection: Slack did it, the caller cannot know).
- Every message really posted is kept (`posted`), and `conversations.history` returns them with metadata.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None


class FlakySlack:
    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.requests: list[str] = []  # every method called, in order, faults included
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._handle(dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query)))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(urllib.parse.parse_qsl(raw))
                self._handle(body)

            def _handle(self, body: dict[str, Any]) -> None:
                method = urllib.parse.urlparse(self.path).path.rsplit("/", 1)[-1]
                fault = slack._next_fault(method)
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault in ("500", "503", "429"):
                    headers = {"Retry-After": "0"} if fault == "429" else {}
                    error = {"ok": False, "error": "ratelimited" if fault == "429" else "fatal_error"}
                    return self._send(int(fault), error, headers)
                answer = slack._answer(method, body)
                if fault == "post-then-drop":
                    self.close_connection = True
                    return
                self._send(200, answer)

            def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FlakySlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, method: str, *faults: str) -> None:
        with self._lock:
            self.faults[method].extend(faults)

    def _next_fault(self, method: str) -> str | None:
        with self._lock:
            self.requests.append(method)
            queue = self.faults.get(method)
            return queue.popleft() if queue else None

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            metadata = body.get("metadata")
            message = Posted(
                channel=_channel_id(body["channel"]),
                ts=f"{int(time.time())}.{next(self._ts):06d}",
                text=body.get("text", ""),
                blocks=_json(body.get("blocks")) or [],
                metadata=_json(metadata),
            )
            with self._lock:
                self.posted.append(message)
            return {"ok": True, "channel": message.channel, "ts": message.ts}
        if method == "conversations.history":
            with self._lock:
                found = [m for m in self.posted if m.channel == _channel_id(body["channel"])]
            oldest = float(body.get("oldest") or 0)
            messages = [
                {"type": "message", "ts": m.ts, "text": m.text, **({"metadata": m.metadata} if m.metadata else {})}
                for m in reversed(found)
                if float(m.ts) >= oldest
            ]
            return {"ok": True, "messages": messages, "has_more": False, "response_metadata": {"next_cursor": ""}}
        if method == "chat.delete":
            with self._lock:
                self.posted = [m for m in self.posted if m.ts != body.get("ts")]
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        return {"ok": True}


def _channel_id(channel: str) -> str:
    # Slack answers with the channel's id even when it was given by name.
    return channel if not channel.startswith("#") else "C" + channel[1:].upper()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
