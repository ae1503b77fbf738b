"""The App Home tab: drawn from the ledger for one person, and kept fresh without flooding Slack.

`home_view` reads everything with indexed queries in one read unit (ledger.reports.home_summary), so it costs the
same at a million payments as at ten. `HomeRefresher` decides when a person's home tab is published again: when it
was opened, or when something it shows changed (`changes_marker`: a write, a decision, a scan, a sync) and that
person's tab was last published at least `interval` seconds ago (Slack rate-limits views.publish). It knows nothing
about Slack: it is given a `publish(user)` and a `marker()`, and a clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from bot.handlers.context import Context
from bot.render.home import home_view as draw_home
from ledger import reports, scans

log = logging.getLogger("creditbot.bot")
# A person who has not opened the tab for this long is no longer refreshed (they see a fresh one when they open it).
VIEWER_IDLE_SECONDS = 3600.0
MAX_FAILURES = 5


def home_view(ctx: Context, notice: str | None = None) -> dict:
    with ctx.db.read() as unit:
        summary = reports.home_summary(unit)
        findings = scans.findings_by_id(unit, summary.open_finding_ids)
    return draw_home(summary, findings, ctx.is_billing_admin, notice)


def changes_marker(ctx: Context) -> Hashable:
    with ctx.db.read() as unit:
        return reports.changes_marker(unit)


@dataclass
class _Viewer:
    seen_at: float
    published_at: float | None = None
    marker: Hashable = None


class HomeRefresher:
    """Who has the home tab open here, and whose tab to publish again now."""

    def __init__(
        self,
        publish: Callable[[str, str | None], None],
        marker: Callable[[], Hashable],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._marker = marker
        self.interval = interval
        self._clock = clock
        self._viewers: dict[str, _Viewer] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def opened(self, user: str) -> bool:
        """The person opened the tab: publish it unless it was published moments ago and nothing changed since."""
        now = self._clock()
        marker = self._marker()
        with self._lock:
            viewer = self._viewers.setdefault(user, _Viewer(seen_at=now))
            viewer.seen_at = now
            recent = viewer.published_at is not None and now - viewer.published_at < self.interval
            if recent and viewer.marker == marker:
                return False
            if recent:
                self._wake.set()  # changed, but published moments ago: the worker publishes it when allowed
                return False
            viewer.published_at, viewer.marker = now, marker
        self._publish(user, None)
        return True

    def publish_now(self, user: str, notice: str | None) -> None:
        """Publish at once with `notice` on top (the answer to a button the person used on the tab)."""
        now, marker = self._clock(), self._marker()
        with self._lock:
            viewer = self._viewers.setdefault(user, _Viewer(seen_at=now))
            viewer.published_at, viewer.marker = now, marker
        self._publish(user, notice)

    def changed(self) -> None:
        """Something may have changed (a request was answered): look soon, without holding the request up."""
        self._wake.set()

    def refresh_due(self) -> tuple[list[str], float | None]:
        """Publish every tab whose content changed and may be published now; returns who was published and in
        how many seconds the next one may be (None: nobody is waiting)."""
        now = self._clock()
        marker = self._marker()
        due: list[str] = []
        wait: float | None = None
        with self._lock:
            for user, viewer in list(self._viewers.items()):
                if now - viewer.seen_at > VIEWER_IDLE_SECONDS:
                    del self._viewers[user]
                    continue
                if viewer.marker == marker:
                    continue
                left = 0.0 if viewer.published_at is None else viewer.published_at + self.interval - now
                if left > 0:
                    wait = left if wait is None else min(wait, left)
                    continue
                viewer.published_at, viewer.marker = now, marker
                due.append(user)
        for user in due:
            self._publish(user, None)
        return due, wait

    def start(self, poll_seconds: float = 2.0) -> None:
        """Run `refresh_due` in a daemon thread every `poll_seconds`, and when woken (`changed`)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, args=(poll_seconds,), name="home-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the refresh thread (the app is shutting down) and wait for it; a later `start` runs it again."""
        with self._lock:
            thread, self._stopping = self._thread, True
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._stopping = False

    def _run(self, poll_seconds: float) -> None:
        wait: float | None = None
        failures = 0
        while failures < MAX_FAILURES:
            self._wake.wait(poll_seconds if wait is None else min(max(wait, 0.05), poll_seconds))
            self._wake.clear()
            if self._stopping:
                break
            try:
                _, wait = self.refresh_due()
                failures = 0
            except Exception:  # a failed read or publish is logged; the next look tries again
                log.exception("home tab refresh failed")
                failures += 1
                wait = max(self.interval, 1.0)
        with self._lock:  # the ledger is gone (or keeps failing): stop; the next opened tab starts again
            self._thread = None
