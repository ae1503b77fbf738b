"""Slack's side of the conversation, for end-to-end tests of the bot over real HTTP.

- `SlackStandIn`: a stdlib HTTP server standing in for Slack's Web API (`SLACK_API_URL` points at its /api/) and
  for `response_url`s (/respond/<name>). It records every call as received, with what came of it (`Call.outcome`),
  and answers like Slack does: every message posted is kept (`posted`), `conversations.history` returns them with
  their metadata, `chat.delete` removes one. It misbehaves when told to: `fail` refuses a method as Slack does
  (e.g. chat.postMessage with not_in_channel); `fail_next` queues what goes wrong at the HTTP level with a method's
  next requests (see `FAULTS`); `down()` makes Slack unreachable (connection refused) until it ends (both:
  tests/http_faults.py, shared with QuickBooks').
- `running_bot`: the bot's WSGI app (the one `creditbot serve` runs) on a local port, built for a test database.
- `BotUnderTest`: sends what Slack sends, signed with the signing secret: slash commands (form-encoded) and
  button clicks (`payload=` JSON); clicks are answered through `respond()`, which the stand-in records.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.slack.app import create_app
from bot.slack.listeners.home import stop_refreshers
from bot.slack.server import wsgi_app
from ledger.db import Database
from tests.http_faults import FaultyHandler, FaultyService

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TEAM = "T-TEST"
ADMIN, OTHER_ADMIN, READER = "U-ADMIN", "U-ADMIN2", "U-READER"
CHANNEL = "C-BILLING"
WAIT_SECONDS = 15

# What `fail_next` can make a request meet, instead of Slack's answer (tests/http_faults.py):
FAULTS = {
    "500": "HTTP 500 (fatal_error)",
    "503": "HTTP 503 (fatal_error)",
    "429": "HTTP 429 (ratelimited) with Retry-After: `retry_after` seconds (0 unless a test sets it)",
    "drop": "the connection closed without an answer, before anything was done",
    "post-then-drop": "the method carried out (the message posted), then the connection closed: the answer is lost",
    "slow": "the method carried out at once, its answer sent `slow_seconds` later (a shorter client timeout gives up)",
}
# Slack's documented answers: a rate-limited method is HTTP 429 with a Retry-After header (seconds) and the body
# {"ok": false, "error": "ratelimited"}; an internal failure is HTTP 5xx with {"ok": false, "error": "fatal_error"}.


@dataclass(eq=False)
class Call:
    """One request the bot made to "Slack", kept when Slack received it (faults included): a Web API method, a
    response_url or the upload step. `outcome` says what came of it, once Slack is done with it:
    - "pending": received, not answered yet (a "slow" answer, or one Slack is still working on);
    - "answered": carried out and answered (an answer may still say {"ok": false, ...}, as Slack's do);
    - "refused": answered with an HTTP error (429, 5xx): nothing was done;
    - "dropped": the connection closed unanswered, nothing done; "lost": carried out, but its answer never went out.
    """

    kind: str  # "api", "respond" or "upload"
    name: str  # the API method ("chat.postMessage"), the response_url's name, or the uploaded file's id
    body: dict[str, Any]
    headers: dict[str, str]
    outcome: str = "pending"

    @property
    def carried_out(self) -> bool:
        """Whether Slack did what was asked (posted the message, showed the response), answer received or not."""
        return self.outcome in ("answered", "lost")


@dataclass(frozen=True)
class Posted:
    """A message really in a channel (chat.postMessage answered, or its answer lost; not deleted since)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None


class SlackStandIn(FaultyService):
    def __init__(self) -> None:
        super().__init__(_handler_for(self), FAULTS, poll_s=0.05)
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        self._changed = threading.Condition()
        self._failures: dict[str, tuple[str, set[str] | None]] = {}
        self.retry_after = "0"  # the Retry-After of a "429" fault, in seconds as Slack sends it
        # Where apps.connections.open sends a Socket Mode client (a SocketModeStandIn's url).
        self.socket_url: str | None = None
        self._ts = itertools.count(1)
        # Seconds each Web API answer takes after the method was carried out (a real Slack's round trip).
        self.latency = 0.0
        self.views = ViewsStandIn()
        self.files = FilesStandIn()

    def __enter__(self) -> SlackStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/respond/{name}"

    def fail(self, method: str, error: str, channels: set[str] | None = None) -> None:
        """Answer `method` with {"ok": false, "error": error} (only for these channels, if given)."""
        self._failures[method] = (error, channels)

    def fail_next(self, method: str, *faults: str) -> None:
        """Meet the next requests for `method` with these faults (keys of `FAULTS`), one each, in order. `method`
        "upload" is the file upload step (files.getUploadURLExternal's upload_url), "respond" any response_url."""
        self.faults.extend(faults, method)

    def api_calls(self, method: str) -> list[Call]:
        """Every request for `method` that Slack received (each attempt, whatever came of it: `Call.outcome`)."""
        with self._changed:
            return [c for c in self.calls if c.kind == "api" and c.name == method]

    def responses(self, name: str) -> list[Call]:
        """Every request the bot made to the response_url `name` (shown or not: `Call.outcome`)."""
        with self._changed:
            return [c for c in self.calls if c.kind == "respond" and c.name == name]

    def wait_for(self, found: Callable[[], list[Call]], count: int = 1) -> list[Call]:
        """Wait until `found()` returns at least `count` calls that Slack is done with (not "pending"); those calls.
        A lazy listener calls Slack after the request was acknowledged, and a call is received before it is
        answered: what a call did (a modal opened, a message posted) is there once it is done."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while len(calls := [call for call in found() if call.outcome != "pending"]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} calls, got {len(calls)}: {self.calls}")
                self._changed.wait(left)
            return calls

    def _record(self, call: Call) -> str | None:
        """Keep the call as received ("pending"); return the fault queued for it, if any."""
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
            # A method's faults by its name; the upload step's and the response_urls' as "upload" and "respond".
            fault = self.faults.take(call.name if call.kind == "api" else call.kind)
            return None if fault is None else str(fault)

    def _settle(self, call: Call, outcome: str) -> None:
        with self._changed:
            call.outcome = outcome
            self._changed.notify_all()

    def _answer(self, kind: str, name: str, body: dict[str, Any]) -> Any:
        if kind == "respond":
            return "ok"
        failure = self._failures.get(name)
        if failure is not None and (failure[1] is None or body.get("channel") in failure[1]):
            return {"ok": False, "error": failure[0]}
        if name == "auth.test":
            return {"ok": True, "team": "Test", "team_id": TEAM, "user": "creditbot", "user_id": "U-BOT",
                    "bot_id": "B-BOT", "url": "https://test.slack.com/"}  # fmt: skip
        if name == "apps.connections.open" and self.socket_url:
            return {"ok": True, "url": self.socket_url}
        if name == "chat.postMessage":
            message = self._post(body)
            return {"ok": True, "channel": message.channel, "ts": message.ts}
        if name == "conversations.history":
            return {"ok": True, "messages": self._history(body), "has_more": False,
                    "response_metadata": {"next_cursor": ""}}  # fmt: skip
        if name in VIEW_METHODS:
            return self.views.answer(name, body)
        if name in FILE_METHODS:
            return self.files.answer(name, body, self.url)
        if name == "chat.postEphemeral":
            message = self._post(body)
            return {"ok": True, "message_ts": message.ts}
        if name == "chat.delete":
            with self._changed:
                self.posted = [m for m in self.posted if m.ts != body.get("ts")]
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        return {"ok": True}

    def _post(self, body: dict[str, Any]) -> Posted:
        # Real timestamps: the alerts look a message up again with conversations.history(oldest=...).
        message = Posted(
            channel=_channel_id(str(body.get("channel") or "")),
            ts=f"{int(time.time())}.{next(self._ts):06d}",
            text=body.get("text", ""),
            blocks=_json(body.get("blocks")) or [],
            metadata=_json(body.get("metadata")),
        )
        with self._changed:
            self.posted.append(message)
        return message

    def _history(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The channel's messages since `oldest`, newest first, as conversations.history lists them."""
        with self._changed:
            found = [m for m in self.posted if m.channel == _channel_id(str(body.get("channel") or ""))]
        oldest = float(body.get("oldest") or 0)
        return [
            {"type": "message", "ts": m.ts, "text": m.text, **({"metadata": m.metadata} if m.metadata else {})}
            for m in reversed(found)
            if float(m.ts) >= oldest
        ]


def _handler_for(stand_in: SlackStandIn) -> type[FaultyHandler]:
    class Handler(FaultyHandler):
        service = stand_in

        def do_GET(self) -> None:  # slack_sdk reads some methods (conversations.history) with GET
            query = urllib.parse.urlparse(self.path).query
            self._handle(dict(urllib.parse.parse_qsl(query, keep_blank_values=True)))

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parsed = urllib.parse.urlparse(self.path)
            if parsed.path.startswith("/upload/"):  # files.getUploadURLExternal's upload_url: the file's bytes
                return self._upload(parsed.path.rsplit("/", 1)[1], data)
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            self._handle({**query, **_decode(data.decode(), self.headers.get("Content-Type") or "")})

        def _upload(self, file_id: str, data: bytes) -> None:
            """The upload step: faults queued for the method name "upload" meet it as they meet a method."""
            if not self.unreachable():
                call = Call("upload", file_id, {"length": len(data)}, {})
                self._settled(call, lambda fault: self._receive(file_id, data, fault))

        def _handle(self, body: dict[str, Any]) -> None:
            if not self.unreachable():
                kind, _, name = urllib.parse.urlparse(self.path).path.strip("/").partition("/")
                call = Call(kind, name, body, dict(self.headers.items()))
                self._settled(call, lambda fault: self._answer(call, fault))

        def _settled(self, call: Call, meet: Callable[[str | None], str]) -> None:
            """Record the call as received, meet it with its fault (if any), and mark what came of it."""
            fault = stand_in._record(call)
            outcome = "lost"  # unless it is met: the client hung up before the answer could go out
            try:
                outcome = "dropped" if self.hung_up_before(fault) else meet(fault)
            except OSError:
                self.close_connection = True
            finally:
                stand_in._settle(call, outcome)

        def _receive(self, file_id: str, data: bytes, fault: str | None) -> str:
            if fault in ("500", "503"):
                self._send(int(fault), "error")
                return "refused"
            status, text = stand_in.files.receive(file_id, data)
            if self.hung_up_after(fault):
                return "lost"
            self._send(status, text)
            return "answered"

        def _answer(self, call: Call, fault: str | None) -> str:
            if fault == "429":
                self._send(429, {"ok": False, "error": "ratelimited"}, stand_in.retry_after_header())
                return "refused"
            if fault in ("500", "503"):
                self._send(int(fault), {"ok": False, "error": "fatal_error"})
                return "refused"
            answer = stand_in._answer(call.kind, call.name, call.body)
            if call.kind == "api" and stand_in.latency:
                time.sleep(stand_in.latency)
            if answer is RATELIMITED:
                self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                return "refused"
            if self.hung_up_after(fault):
                return "lost"
            self._send(200, answer)
            return "answered"

        def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            text = isinstance(answer, str)
            payload = answer.encode() if text else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for header, value in (headers or {}).items():
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _decode(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        return json.loads(raw)
    return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}


def _channel_id(channel: str) -> str:
    # Slack answers with the channel's id even when it was given by name.
    return channel if not channel.startswith("#") else "C" + channel[1:].upper()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- views (modals, the home tab) and files, as Slack's docs describe them ------------------------------------
# views.open exchanges a trigger_id once, within 3 seconds of the interaction that issued it (expired_trigger_id,
# exchanged_trigger_id, invalid_trigger_id); a view is at most 250 kB (view_too_large) and 100 blocks, a modal's title,
# submit and close at most 24 characters, private_metadata 3,000 and callback_id 255 (invalid_arguments otherwise).
# views.update takes a view_id (not_found) and an optional hash (hash_conflict when the view changed since).
# views.publish needs the home tab enabled (not_enabled) and is Tier 4: about 100 a minute, then HTTP 429 ratelimited.
# files.getUploadURLExternal (filename, length) gives an upload_url and a file_id; the bytes are POSTed there; then
# files.completeUploadExternal (files=[{"id", "title"}], channel_id, initial_comment) shares them (file_not_found
# for a file never uploaded).
VIEW_METHODS = frozenset({"views.open", "views.update", "views.publish"})
FILE_METHODS = frozenset({"files.getUploadURLExternal", "files.completeUploadExternal"})
TRIGGER_SECONDS = 3.0
VIEW_BYTES = 250_000
RATELIMITED = object()  # an answer the handler sends as HTTP 429 with Retry-After


class ViewsStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}
        self._exchanged: set[str] = set()
        self._expired: set[str] = set()
        self._ids = itertools.count(1)
        self.opened: dict[str, dict[str, Any]] = {}  # view id -> the modal as Slack holds it now
        self.homes: dict[str, dict[str, Any]] = {}  # user -> their home tab
        self.home_tab_enabled = True
        self.publish_limit_per_minute = 100
        self._published: deque[float] = deque()

    def issue_trigger(self) -> str:
        """A trigger_id as an interaction carries it ("12345.98765.abcd2358fdea")."""
        number = next(self._ids)
        trigger = f"{number}.{int(time.time())}.{hashlib.sha256(str(number).encode()).hexdigest()[:12]}"
        with self._lock:
            self._issued[trigger] = time.monotonic()
        return trigger

    def expire(self, trigger_id: str) -> None:
        """Make a trigger too old to exchange (as if more than 3 seconds had passed)."""
        with self._lock:
            self._expired.add(trigger_id)

    def last_modal(self, count: int = 1) -> dict[str, Any]:
        """The modal opened last, once `count` are open: a views.open call is recorded when it is received, so a
        test that looked at the calls without waiting for them (`wait_for`) may be a moment ahead of the modal."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with self._lock:
                if len(self.opened) >= count:
                    return list(self.opened.values())[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} open modals, got {len(self.opened)}")
            time.sleep(0.01)

    def answer(self, name: str, body: dict[str, Any]) -> Any:
        view = _json(body.get("view"))
        if not isinstance(view, dict):
            return _refused("invalid_arguments", "missing required field: view")
        problem = _view_problem(view)
        if problem:
            return _refused(*problem)
        with self._lock:
            if name == "views.open":
                return self._open(str(body.get("trigger_id") or ""), view)
            if name == "views.update":
                return self._update(str(body.get("view_id") or ""), body.get("hash"), view)
            return self._publish(str(body.get("user_id") or ""), view)

    def _open(self, trigger: str, view: dict[str, Any]) -> Any:
        if trigger not in self._issued:
            return _refused("invalid_trigger_id")
        if trigger in self._exchanged:
            return _refused("exchanged_trigger_id")
        if trigger in self._expired or time.monotonic() - self._issued[trigger] > TRIGGER_SECONDS:
            return _refused("expired_trigger_id")
        if view.get("type") != "modal":
            return _refused("invalid_arguments", "views.open opens a modal")
        self._exchanged.add(trigger)
        held = self._held(f"V{next(self._ids):08d}", view)
        self.opened[held["id"]] = held
        return {"ok": True, "view": held}

    def _update(self, view_id: str, hash_: Any, view: dict[str, Any]) -> Any:
        current = self.opened.get(view_id)
        if current is None:
            return _refused("not_found")
        if hash_ and hash_ != current["hash"]:
            return _refused("hash_conflict")
        held = self._held(view_id, view)
        self.opened[view_id] = held
        return {"ok": True, "view": held}

    def _publish(self, user: str, view: dict[str, Any]) -> Any:
        if not user:
            return _refused("invalid_arguments", "missing required field: user_id")
        if view.get("type") != "home":
            return _refused("invalid_arguments", "views.publish publishes a home tab")
        if not self.home_tab_enabled:
            return _refused("not_enabled")
        now = time.monotonic()
        while self._published and now - self._published[0] > 60:
            self._published.popleft()
        if len(self._published) >= self.publish_limit_per_minute:
            return RATELIMITED
        self._published.append(now)
        held = self._held(f"VH-{user}", view)
        self.homes[user] = held
        return {"ok": True, "view": held}

    def _held(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        held = {**view, "id": view_id, "team_id": TEAM, "app_id": "A-CREDITBOT", "state": {"values": {}}}
        held["hash"] = f"{int(time.time())}.{next(self._ids)}"
        held.setdefault("private_metadata", "")
        return held


def _view_problem(view: dict[str, Any]) -> tuple[str, str] | None:
    if len(json.dumps(view)) > VIEW_BYTES:
        return ("view_too_large", "a view is at most 250 kB")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        return ("invalid_arguments", "blocks: an array of at most 100 blocks")
    if len(str(view.get("private_metadata") or "")) > 3000 or len(str(view.get("callback_id") or "")) > 255:
        return ("invalid_arguments", "private_metadata is at most 3,000 characters, callback_id 255")
    if view.get("type") == "modal":
        for field_name in ("title", "submit", "close"):
            text = (view.get(field_name) or {}).get("text", "")
            if (field_name == "title" and not text) or len(text) > 24:
                return ("invalid_arguments", f"{field_name}: plain text of at most 24 characters")
        if any(block.get("type") == "input" for block in blocks) and not view.get("submit"):
            return ("invalid_arguments", "a modal with input blocks needs a submit button")
    return None


def _refused(error: str, why: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": False, "error": error}
    if why:
        answer["response_metadata"] = {"messages": [why]}
    return answer


@dataclass(frozen=True)
class SharedFile:
    file_id: str
    filename: str
    title: str
    channel: str | None
    initial_comment: str
    content: bytes


class FilesStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[str, dict[str, Any]] = {}
        self.shared: list[SharedFile] = []

    def answer(self, name: str, body: dict[str, Any], base_url: str) -> Any:
        with self._lock:
            if name == "files.getUploadURLExternal":
                filename, length = body.get("filename"), str(body.get("length") or "")
                if not filename or not length.isdigit():
                    return _refused("invalid_arguments", "filename and length (bytes) are required")
                file_id = f"F{next(self._ids):09d}"
                self._pending[file_id] = {"filename": filename, "length": int(length), "data": None}
                return {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}
            files = _json(body.get("files"))
            if not isinstance(files, list) or not files:
                return _refused("invalid_arguments", "files: an array of {id, title}")
            if any(self._pending.get(str(f.get("id")), {}).get("data") is None for f in files):
                return _refused("file_not_found")
            done = []
            for entry in files:
                pending = self._pending.pop(str(entry["id"]))
                title = str(entry.get("title") or pending["filename"])
                self.shared.append(SharedFile(str(entry["id"]), pending["filename"], title, body.get("channel_id"),
                                              str(body.get("initial_comment") or ""), pending["data"]))  # fmt: skip
                done.append({"id": entry["id"], "title": title})
            return {"ok": True, "files": done}

    def receive(self, file_id: str, data: bytes) -> tuple[int, str]:
        with self._lock:
            pending = self._pending.get(file_id)
            if pending is None:
                return 404, "not found"
            pending["data"] = data
            return 200, f"OK - {len(data)}"


class SocketModeStandIn:
    """A WebSocket endpoint standing in for Slack's Socket Mode: it sends envelopes (slash commands, clicks)
    to the connected app and collects the acknowledgements the app sends back (RFC 6455 framing, text only)."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"
        self.acks: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._connection: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SocketModeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        if self._connection is not None:
            self._connection.close()

    def send(self, envelope: dict[str, Any]) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._connection is not None, WAIT_SECONDS)
        self._send_frame(0x1, json.dumps(envelope).encode())

    def ack_for(self, envelope_id: str) -> dict[str, Any]:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((a for a in self.acks if a.get("envelope_id") == envelope_id), None), WAIT_SECONDS
            )
        if found is None:
            raise AssertionError(f"no acknowledgement for {envelope_id}: {self.acks}")
        return found

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(4096)
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.decode().split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        connection.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        with self._changed:
            self._connection = connection
            self._changed.notify_all()
        self._send_frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode())
        self._read_frames(connection)

    def _read_frames(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        while True:
            head = reader.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(reader.read(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.read(8), "big")
            mask = reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.read(length)))
            if opcode == 0x8:
                self._send_frame(0x8, data[:2])  # answer the close handshake, so the client closes at once
                connection.close()
                return
            if opcode == 0x9:
                self._send_frame(0xA, data)
            elif opcode == 0x1:
                with self._changed:
                    self.acks.append(json.loads(data))
                    self._changed.notify_all()

    def _send_frame(self, opcode: int, data: bytes) -> None:
        if len(data) < 126:
            header = bytes([0x80 | opcode, len(data)])
        elif len(data) < 65536:
            header = bytes([0x80 | opcode, 126]) + len(data).to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 127]) + len(data).to_bytes(8, "big")
        assert self._connection is not None
        with self._send_lock:
            self._connection.sendall(header + data)


# --- the bot under test -----------------------------------------------------------------------------------


@dataclass
class Message:
    """A message the person sees in Slack: its blocks, and what a click on it sends back."""

    blocks: list[dict[str, Any]]
    text: str = ""
    ts: str = ""
    channel: str = CHANNEL
    response_url_name: str = ""
    ephemeral: bool = True

    def button(self, label_or_action: str) -> dict[str, Any]:
        for block in self.blocks:
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for element in elements:
                if element.get("type") == "button" and label_or_action in (
                    element.get("action_id"),
                    element.get("text", {}).get("text"),
                ):
                    return {**element, "block_id": block.get("block_id", "b")}
        raise AssertionError(f"no button {label_or_action!r} in {self.blocks}")

    def buttons(self) -> list[str]:
        labels = []
        for block in self.blocks:
            if block.get("type") == "actions":
                labels.extend(e.get("text", {}).get("text") for e in block.get("elements", []))
        return labels

    @property
    def all_text(self) -> str:
        """Every text in the message, for assertions on what the person reads."""
        texts: list[str] = [self.text]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    texts.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return "\n".join(texts)


@dataclass
class HttpAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class BotUnderTest:
    def __init__(self, url: str, slack: SlackStandIn, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.slack = slack
        self.verifier = SignatureVerifier(secret)
        self._numbers = itertools.count(1)
        # How often each click was sent, so a repeated click waits for its own answer.
        self._sent: dict[str, int] = {}
        self._sending = threading.Lock()

    # --- what Slack sends ---

    def post(self, body: str, headers: dict[str, str] | None = None, timestamp: int | None = None) -> HttpAnswer:
        """POST a body to /slack/events signed like Slack signs it (unless headers override the signature)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }
        request = urllib.request.Request(
            f"{self.url}/slack/events", data=body.encode(), headers={**signed, **(headers or {})}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                return HttpAnswer(response.status, response.read().decode(), dict(response.headers.items()))
        except urllib.error.HTTPError as refused:
            return HttpAnswer(refused.code, refused.read().decode(), dict(refused.headers.items()))

    def slash_body(self, text: str, user: str = ADMIN, channel: str = CHANNEL, trigger_id: str | None = None) -> str:
        number = next(self._numbers)
        return urllib.parse.urlencode(
            {
                "token": "unused",
                "team_id": TEAM,
                "team_domain": "test",
                "channel_id": channel,
                "channel_name": "billing",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/credit",
                "text": escaped(text),
                "api_app_id": "A-CREDITBOT",
                "response_url": self.slack.response_url(f"cmd-{number}"),
                "trigger_id": trigger_id or self.slack.views.issue_trigger(),
            }
        )

    def slash(self, text: str, user: str = ADMIN, channel: str = CHANNEL, **headers: str) -> Message:
        """Type `/credit <text>` as `user`; the reply is the acknowledgement's body."""
        body = self.slash_body(text, user, channel)
        return self.slash_with(body, {k.replace("_", "-"): v for k, v in headers.items()})

    def slash_form(self, text: str, user: str = ADMIN, channel: str = CHANNEL) -> Message:
        """Type a `/credit` line that opens a form; the acknowledgement says so."""
        reply = self.slash(text, user, channel)
        assert "form is open" in reply.text, reply.text
        return reply

    def slash_with(self, body: str, headers: dict[str, str] | None = None) -> Message:
        answer = self.post(body, headers)
        assert answer.status == 200, (answer.status, answer.body)
        reply = answer.json()
        assert reply["response_type"] == "ephemeral", reply
        params = dict(urllib.parse.parse_qsl(body))
        name = params["response_url"].rsplit("/", 1)[1]
        return Message(reply.get("blocks", []), reply.get("text", ""), self._ts(), params["channel_id"], name)

    def click_body(self, message: Message, button: str, user: str = ADMIN) -> str:
        element = message.button(button)
        number = next(self._numbers)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A-CREDITBOT",
            "token": "unused",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": message.ephemeral,
            },
            "trigger_id": self.slack.views.issue_trigger(),
            "team": {"id": TEAM, "domain": "test"},
            "channel": {"id": message.channel, "name": "billing"},
            "response_url": self.slack.response_url(f"click-{number}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": element["block_id"],
                    "text": element["text"],
                    "value": element.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    def click(self, message: Message, button: str, user: str = ADMIN, **headers: str) -> Message:
        """Click a button; the answer comes later through the click's response_url."""
        body = self.click_body(message, button, user)
        return self.click_with(body, message, {k.replace("_", "-"): v for k, v in headers.items()})

    def click_with(self, body: str, message: Message, headers: dict[str, str] | None = None) -> Message:
        """Send a click's body (again, for a retry or a double click) and return the answer the bot sent to the
        click's response_url (whether Slack showed it is that call's `outcome`)."""
        payload = json.loads(dict(urllib.parse.parse_qsl(body))["payload"])
        name = payload["response_url"].rsplit("/", 1)[1]
        with self._sending:
            self._sent[name] = self._sent.get(name, 0) + 1
            number = self._sent[name]
        answer = self.post(body, headers)
        assert answer.status == 200, (answer.status, answer.body)
        call = self.slack.wait_for(lambda: self.slack.responses(name), number)[number - 1]
        replaced = bool(call.body.get("replace_original"))
        return Message(
            call.body.get("blocks", []),
            call.body.get("text", ""),
            message.ts if replaced else self._ts(),
            message.channel,
            name,
            ephemeral=message.ephemeral if replaced else True,
        )

    # --- forms (modals), the typeahead and the home tab ---

    def interaction(self, payload: dict[str, Any]) -> HttpAnswer:
        """POST an interaction payload (`payload=` JSON), signed; the answer is the acknowledgement."""
        base = {"api_app_id": "A-CREDITBOT", "token": "unused", "team": {"id": TEAM, "domain": "test"}}
        return self.post(urllib.parse.urlencode({"payload": json.dumps({**base, **payload})}))

    def shortcut(
        self, callback_id: str, user: str = ADMIN, message: str | None = None, trigger: str | None = None
    ) -> str:
        """Use a global shortcut, or a message shortcut on a message with this text; returns its trigger_id."""
        trigger = trigger or self.slack.views.issue_trigger()
        payload: dict[str, Any] = {"type": "shortcut", "callback_id": callback_id, "trigger_id": trigger,
                                   "user": {"id": user, "username": user.lower(), "team_id": TEAM}}  # fmt: skip
        if message is not None:
            payload.update(type="message_action", channel={"id": CHANNEL, "name": "billing"},
                           message={"type": "message", "text": escaped(message), "ts": self._ts()},
                           response_url=self.slack.response_url(f"shortcut-{next(self._numbers)}"))  # fmt: skip
        answer = self.interaction(payload)
        assert answer.status == 200, (answer.status, answer.body)
        return trigger

    def modal(self, count: int = 1) -> dict[str, Any]:
        """The modal opened or updated last, once `count` views.open/views.update calls were made."""
        self.slack.wait_for(lambda: self.slack.api_calls("views.open") + self.slack.api_calls("views.update"), count)
        return self.slack.views.last_modal()

    def suggest(
        self, view: dict[str, Any], typed: str, user: str = ADMIN, action_id: str = "credit_form_client"
    ) -> dict:
        """Type into the view's external select: Slack asks the options load URL (block_suggestion)."""
        payload = {"type": "block_suggestion", "user": {"id": user, "team_id": TEAM}, "action_id": action_id,
                   "block_id": "client", "value": typed, "view": view,
                   "container": {"type": "view", "view_id": view["id"]}}  # fmt: skip
        answer = self.interaction(payload)
        assert answer.status == 200, (answer.status, answer.body)
        return answer.json()

    def pick(self, view: dict[str, Any], block_id: str, value: str, user: str = ADMIN) -> None:
        """Pick an option in the view's select that dispatches actions (block_actions from a view)."""
        element = _element_of(view, block_id)
        state = _state_for(view, {block_id: value})
        payload = {"type": "block_actions", "user": {"id": user, "team_id": TEAM},
                   "container": {"type": "view", "view_id": view["id"]}, "trigger_id": self.slack.views.issue_trigger(),
                   "view": {**view, "state": state},
                   "actions": [{"type": element["type"], "action_id": element["action_id"], "block_id": block_id,
                                "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
                                "action_ts": f"{time.time():.6f}"}]}  # fmt: skip
        answer = self.interaction(payload)
        assert answer.status == 200, (answer.status, answer.body)

    def click_in_view(self, view: dict[str, Any], action_id: str, user: str = ADMIN) -> str:
        """Click a button in a modal or on the home tab; returns the click's trigger_id."""
        button = next(e for b in view["blocks"] if b.get("type") == "actions" for e in b["elements"]
                      if e.get("action_id") == action_id or e.get("text", {}).get("text") == action_id)  # fmt: skip
        trigger = self.slack.views.issue_trigger()
        payload = {"type": "block_actions", "user": {"id": user, "team_id": TEAM}, "trigger_id": trigger,
                   "container": {"type": "view", "view_id": view["id"]}, "view": view,
                   "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b",
                                "value": button.get("value", ""), "action_ts": f"{time.time():.6f}"}]}  # fmt: skip
        answer = self.interaction(payload)
        assert answer.status == 200, (answer.status, answer.body)
        return trigger

    def submit(self, view: dict[str, Any], values: dict[str, str | None], user: str = ADMIN) -> dict[str, Any]:
        """Submit the modal with these values by block id (an option's value for selects); the acknowledgement."""
        payload = {"type": "view_submission", "user": {"id": user, "team_id": TEAM},
                   "view": {**view, "state": _state_for(view, values)}}  # fmt: skip
        answer = self.interaction(payload)
        assert answer.status == 200, (answer.status, answer.body)
        return answer.json() if answer.body else {}

    def open_home(self, user: str = ADMIN, event_id: str | None = None) -> None:
        event = {"type": "app_home_opened", "user": user, "channel": f"D-{user}", "tab": "home",
                 "event_ts": f"{time.time():.6f}"}  # fmt: skip
        answer = self.post(event_body(event, event_id or f"Ev-home-{next(self._numbers)}"),
                           {"Content-Type": "application/json"})  # fmt: skip
        assert answer.status == 200, (answer.status, answer.body)

    def home(self, user: str = ADMIN, count: int = 1) -> dict[str, Any]:
        """The user's home tab once views.publish was called `count` times for them."""
        self.slack.wait_for(
            lambda: [c for c in self.slack.api_calls("views.publish") if c.body.get("user_id") == user], count
        )
        return self.slack.views.homes[user]

    def posted(self, count: int = 1) -> list[Message]:
        """Messages the bot posted to channels (chat.postMessage), as people in the channel see them: the posts
        Slack carried out (a refused or dropped attempt posted nothing)."""

        def carried_out() -> list[Call]:
            return [c for c in self.slack.api_calls("chat.postMessage") if c.carried_out]

        calls = self.slack.wait_for(carried_out, count)
        return [
            Message(c.body.get("blocks", []), c.body.get("text", ""), self._ts(), c.body["channel"], ephemeral=False)
            for c in calls
        ]

    def _ts(self) -> str:
        return f"1700000100.{next(self._numbers):06d}"


def _element_of(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = next((b for b in view["blocks"] if b.get("block_id") == block_id), None)
    assert block is not None and block.get("type") == "input", f"no input {block_id!r} in {view['blocks']}"
    return block["element"]


def _state_for(view: dict[str, Any], values: dict[str, str | None]) -> dict[str, Any]:
    """view.state as Slack sends it: every input block, with what was entered (or its initial value)."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        kind, action_id = element["type"], element["action_id"]
        given = values.get(block["block_id"], _UNSET)
        if kind.endswith("select"):
            initial = (element.get("initial_option") or {}).get("value")
            value = initial if given is _UNSET else given
            option = {"value": value, "text": {"type": "plain_text", "text": str(value)}} if value else None
            state[block["block_id"]] = {action_id: {"type": kind, "selected_option": option}}
        else:
            value = element.get("initial_value") if given is _UNSET else given
            state[block["block_id"]] = {action_id: {"type": kind, "value": value}}
    return {"values": state}


_UNSET: Any = object()


def event_body(event: dict[str, Any], event_id: str = "Ev1") -> str:
    """An Events API delivery of `event` to the app, as Slack sends it (JSON)."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A-CREDITBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": "U-BOT", "is_bot": True}],
        }
    )


def escaped(text: str) -> str:
    """Text as Slack sends it: &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def bot_settings(db: Database, slack: SlackStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": db.url.render_as_string(hide_password=False),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CREDITBOT_BILLING_ADMINS": f"{ADMIN},{OTHER_ADMIN}",
        "CREDITBOT_APPROVAL_THRESHOLD": "",
        "CREDITBOT_ALERT_CHANNEL": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextmanager
def running_bot(db: Database, slack: SlackStandIn, **settings: Any) -> Iterator[BotUnderTest]:
    """The bot's WSGI app (as `creditbot serve` runs it) on a free local port, over `db`."""
    app = create_app(bot_settings(db, slack, **settings), db)
    server = make_server("127.0.0.1", 0, wsgi_app(app), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield BotUnderTest(f"http://127.0.0.1:{server.server_address[1]}", slack)
    finally:
        server.shutdown()
        stop_refreshers()  # no home tab refresh of this bot may outlive it (and log into the next test)
        server.server_close()
