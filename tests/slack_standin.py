"""Slack's side of the conversation, for end-to-end tests of the bot over real HTTP.

- `SlackStandIn`: a stdlib HTTP server standing in for Slack's Web API (`SLACK_API_URL` points at its /api/) and
  for `response_url`s (/respond/<name>). It records every call and answers like Slack does: every message posted
  is kept (`posted`), `conversations.history` returns them with their metadata, `chat.delete` removes one. It
  misbehaves when told to: `fail` refuses a method as Slack does (e.g. chat.postMessage with not_in_channel);
  `fail_next` queues what goes wrong at the HTTP level with a method's next requests (see `FAULTS`).
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
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.slack.app import create_app
from bot.slack.server import wsgi_app
from ledger.db import Database

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TEAM = "T-TEST"
ADMIN, OTHER_ADMIN, READER = "U-ADMIN", "U-ADMIN2", "U-READER"
CHANNEL = "C-BILLING"
WAIT_SECONDS = 15

# What `fail_next` can make a request meet, instead of Slack's answer:
FAULTS = {
    "500": "HTTP 500 (fatal_error)",
    "503": "HTTP 503 (fatal_error)",
    "429": "HTTP 429 (ratelimited) with Retry-After: 0",
    "drop": "the connection closed without an answer, before anything was done",
    "post-then-drop": "the method carried out (the message posted), then the connection closed: the answer is lost",
}


@dataclass(frozen=True)
class Call:
    """One request the bot made to "Slack": a Web API method or a response_url (faults included)."""

    kind: str  # "api" or "respond"
    name: str  # the API method ("chat.postMessage") or the response_url's name
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Posted:
    """A message really in a channel (chat.postMessage answered, or its answer lost; not deleted since)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None


class SlackStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        self._changed = threading.Condition()
        self._failures: dict[str, tuple[str, set[str] | None]] = {}
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        # Where apps.connections.open sends a Socket Mode client (a SocketModeStandIn's url).
        self.socket_url: str | None = None
        self._ts = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/respond/{name}"

    def fail(self, method: str, error: str, channels: set[str] | None = None) -> None:
        """Answer `method` with {"ok": false, "error": error} (only for these channels, if given)."""
        self._failures[method] = (error, channels)

    def fail_next(self, method: str, *faults: str) -> None:
        """Meet the next requests for `method` with these faults (keys of `FAULTS`), one each, in order."""
        unknown = set(faults) - set(FAULTS)
        assert not unknown, f"no such fault {unknown}; the stand-in knows {sorted(FAULTS)}"
        with self._changed:
            self._faults[method].extend(faults)

    def api_calls(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.kind == "api" and c.name == method]

    def responses(self, name: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.kind == "respond" and c.name == name]

    def wait_for(self, found: Callable[[], list[Call]], count: int = 1) -> list[Call]:
        """Wait until `found()` returns at least `count` calls (a lazy listener answers after the request)."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while len(calls := found()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} calls, got {len(calls)}: {self.calls}")
                self._changed.wait(left)
            return calls

    def _record(self, call: Call) -> str | None:
        """Keep the call; return the fault queued for it, if any."""
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
            queue = self._faults.get(call.name) if call.kind == "api" else None
            return queue.popleft() if queue else None

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


def _handler_for(stand_in: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # so that "drop" is a connection closed on a client that expects more

        def do_GET(self) -> None:  # slack_sdk reads some methods (conversations.history) with GET
            query = urllib.parse.urlparse(self.path).query
            self._handle(dict(urllib.parse.parse_qsl(query, keep_blank_values=True)))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            self._handle(_decode(raw, self.headers.get("Content-Type") or ""))

        def _handle(self, body: dict[str, Any]) -> None:
            kind, _, name = urllib.parse.urlparse(self.path).path.strip("/").partition("/")
            fault = stand_in._record(Call(kind, name, body, dict(self.headers.items())))
            if fault == "drop":
                self.close_connection = True
                return
            if fault in ("500", "503", "429"):
                if fault == "429":
                    return self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
                return self._send(int(fault), {"ok": False, "error": "fatal_error"})
            answer = stand_in._answer(kind, name, body)
            if fault == "post-then-drop":
                self.close_connection = True
                return
            self._send(200, answer)

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

        def log_message(self, format: str, *args: Any) -> None:
            return

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
                "trigger_id": trigger_id or f"trigger-{number}-{time.monotonic_ns()}",
            }
        )

    def slash(self, text: str, user: str = ADMIN, channel: str = CHANNEL, **headers: str) -> Message:
        """Type `/credit <text>` as `user`; the reply is the acknowledgement's body."""
        body = self.slash_body(text, user, channel)
        return self.slash_with(body, {k.replace("_", "-"): v for k, v in headers.items()})

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
            "trigger_id": f"click-{number}",
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
        """Send a click's body (again, for a retry or a double click) and return the answer it gets."""
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

    def posted(self, count: int = 1) -> list[Message]:
        """Messages the bot posted to channels (chat.postMessage), as people in the channel see them."""
        calls = self.slack.wait_for(lambda: self.slack.api_calls("chat.postMessage"), count)
        return [
            Message(c.body.get("blocks", []), c.body.get("text", ""), self._ts(), c.body["channel"], ephemeral=False)
            for c in calls
        ]

    def _ts(self) -> str:
        return f"1700000100.{next(self._numbers):06d}"


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
        server.server_close()
