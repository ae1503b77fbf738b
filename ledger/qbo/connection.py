"""The one QuickBooks company a ledger follows: connecting, its tokens, and refreshing them safely.

Invariants:
- Tokens are stored only encrypted (cryptography's Fernet, keyed from CREDITBOT_SECRET_KEY); they are never logged,
  never printed, never in `--json`. `ConnectionStatus` has no token in it.
- A refresh is a locked read-refresh-write of the `qbo_connection` row: PostgreSQL `SELECT ... FOR UPDATE`, SQLite
  the process's writer lock and `BEGIN IMMEDIATE`. Whoever holds the lock reads the latest refresh token, and one
  that finds `token_version` moved on (another instance refreshed meanwhile) uses the new access token instead of
  refreshing again: a spent refresh token is never sent. A refresh whose request fails writes nothing, so the only
  valid refresh token is never lost.
- The refresh window (issue 19): a process killed after Intuit answered a refresh with a new refresh token and
  before the UPDATE committed leaves the ledger holding the previous one. Intuit documents that previous refresh
  tokens expire 24 hours after a new one is received (see oauth.py), so the next refresh sends the stored one
  and finishes, and its answer is stored as usual; nothing extra is kept. Only a next run more than 24 hours
  later gets invalid_grant and needs a reconnect.
- `invalid_grant` marks the connection broken (with the reason) in its own transaction; every later call refuses
  with QBOConnectionBroken until someone reconnects.
- An authorization `state` is used once and expires after STATE_TTL.
"""

from __future__ import annotations

import base64
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger import history
from ledger.db import Database
from ledger.qbo.errors import (
    QBOAuthorizationFailed,
    QBOConnectionBroken,
    QBONotConnected,
)
from ledger.qbo.oauth import IntuitOAuth, InvalidGrant, TokenGrant
from ledger.unit import Unit, statement

CONNECTED, BROKEN, DISCONNECTED = "connected", "broken", "disconnected"
STATE_TTL = timedelta(minutes=15)
# An access token this close to its expiry is refreshed before use (Intuit's last for an hour).
REFRESH_AHEAD = timedelta(minutes=5)
# Change data capture looks back at most 30 days; a new connection starts a little inside that.
FIRST_LOOKBACK = timedelta(days=29)
INVALID_GRANT = "QuickBooks refused the stored sign-in (invalid_grant): it was revoked, expired, or the app lost access"


class TokenCipher:
    """Fernet encryption under a key derived (HKDF-SHA256) from CREDITBOT_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"creditbot qbo tokens").derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise QBOConnectionBroken(
                "the stored QuickBooks tokens cannot be decrypted: CREDITBOT_SECRET_KEY is not the key they were "
                "stored with"
            ) from None


@dataclass(frozen=True)
class ConnectionStatus:
    connected: bool
    status: str
    realm_id: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_poll_at: datetime | None
    changed_since: datetime | None
    last_error: str | None
    connected_by: str | None = None
    connected_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "connected": self.connected,
            "realm_id": self.realm_id,
            "access_expires_at": iso(self.access_expires_at),
            "refresh_expires_at": iso(self.refresh_expires_at),
            "last_poll_at": iso(self.last_poll_at),
            "changed_since": iso(self.changed_since),
            "last_error": self.last_error,
        }


@dataclass(frozen=True, repr=False)
class AccessToken:
    token: str
    version: int
    realm_id: str

    def __repr__(self) -> str:
        return f"AccessToken(version={self.version}, realm_id={self.realm_id!r})"


_COLUMNS = (
    "status, realm_id, access_token, refresh_token, access_expires_at, refresh_expires_at, token_version, "
    "last_poll_at, changed_since, last_error, connected_by, connected_at"
)
_READ = statement(f"SELECT {_COLUMNS} FROM qbo_connection WHERE id = 1")
_LOCK = statement(f"SELECT {_COLUMNS} FROM qbo_connection WHERE id = 1", "FOR UPDATE")
_ENSURE = statement("INSERT INTO qbo_connection (id, status, token_version) VALUES (1, 'disconnected', 0)")
_STORE = statement(
    "UPDATE qbo_connection SET status = 'connected', realm_id = ?, access_token = ?, refresh_token = ?, "
    "access_expires_at = ?, refresh_expires_at = ?, token_version = token_version + 1, connected_at = ?, "
    "connected_by = ?, changed_since = ?, last_error = NULL, last_error_at = NULL, alerted_error = NULL WHERE id = 1"
)
_ROTATE = statement(
    "UPDATE qbo_connection SET access_token = ?, refresh_token = ?, access_expires_at = ?, "
    "refresh_expires_at = COALESCE(?, refresh_expires_at), token_version = token_version + 1 WHERE id = 1"
)
_BREAK = statement(
    "UPDATE qbo_connection SET status = 'broken', access_token = NULL, refresh_token = NULL, last_error = ?, "
    "last_error_at = ? WHERE id = 1 AND status = 'connected'"
)
_FORGET = statement(
    "UPDATE qbo_connection SET status = 'disconnected', access_token = NULL, refresh_token = NULL, "
    "access_expires_at = NULL, refresh_expires_at = NULL, token_version = token_version + 1, last_error = NULL, "
    "alerted_error = NULL WHERE id = 1"
)
_ERROR = statement("UPDATE qbo_connection SET last_error = ?, last_error_at = ? WHERE id = 1")
_CLEAR_ERROR = statement(
    "UPDATE qbo_connection SET last_error = NULL, last_error_at = NULL, alerted_error = NULL WHERE id = 1 AND "
    "status = 'connected'"
)
_UNALERTED = statement(
    "SELECT last_error FROM qbo_connection WHERE id = 1 AND last_error IS NOT NULL AND "
    "(alerted_error IS NULL OR alerted_error <> last_error)",
    "FOR UPDATE",
)
_ALERTED = statement("UPDATE qbo_connection SET alerted_error = last_error WHERE id = 1")
_NEW_STATE = statement("INSERT INTO qbo_auth_state (state, actor, created_at, expires_at) VALUES (?, ?, ?, ?)")
_TAKE_STATE = statement("SELECT actor, expires_at FROM qbo_auth_state WHERE state = ?", "FOR UPDATE")
_DROP_STATE = statement("DELETE FROM qbo_auth_state WHERE state = ? OR expires_at < ?")


class Connection:
    """The ledger's QuickBooks connection: `db` holds it, `oauth` talks to Intuit, `cipher` guards the tokens."""

    def __init__(self, db: Database, oauth: IntuitOAuth, cipher: TokenCipher) -> None:
        self.db, self.oauth, self.cipher = db, oauth, cipher

    # --- connecting -------------------------------------------------------------------------------------

    def authorization_url(self, actor: str) -> str:
        """The link a QuickBooks admin opens; its `state` is stored with an expiry."""
        state = secrets.token_urlsafe(24)
        with self.db.write() as unit:
            unit.execute(_NEW_STATE, (state, actor, unit.time(unit.now), unit.time(unit.now + STATE_TTL)))
        return self.oauth.authorization_url(state)

    def complete(self, landing_url: str, actor: str) -> ConnectionStatus:
        """Finish connecting from the URL the browser landed on (`...?code=...&state=...&realmId=...`)."""
        query = {key: values[0] for key, values in parse_qs(urlparse(landing_url.strip()).query).items()}
        if "error" in query:
            raise QBOAuthorizationFailed(f"QuickBooks answered “{query['error'][:80]}” (the admin may have cancelled)")
        missing = [name for name in ("code", "state", "realmId") if not query.get(name)]
        if missing:
            raise QBOAuthorizationFailed(
                f"the URL has no {', '.join(missing)}; paste the whole address the browser shows after connecting"
            )
        self.db.transact(_use_state, query["state"])
        grant = self.oauth.exchange(query["code"], query["realmId"])
        self.db.transact(self._store, query["realmId"], grant, actor)
        return self.status()

    def _store(self, unit: Unit, realm_id: str, grant: TokenGrant, actor: str) -> None:
        row = _row(unit, lock=True)
        same_company = row is not None and row[1] == realm_id
        changed_since = unit.read_time(row[8]) if same_company and row[8] else unit.now - FIRST_LOOKBACK
        unit.execute(
            _STORE,
            (
                realm_id,
                self.cipher.encrypt(grant.access_token),
                self.cipher.encrypt(grant.refresh_token),
                unit.time(unit.now + timedelta(seconds=grant.expires_in_s)),
                _refresh_expiry(unit, grant),
                unit.time(unit.now),
                actor,
                unit.time(changed_since),
            ),
        )
        history.record(unit, history.Line(actor, "qbo_connect", subject=f"qbo:{realm_id}",
                                          detail=f"connected to QuickBooks company {realm_id}"))  # fmt: skip

    def disconnect(self, actor: str) -> ConnectionStatus:
        """Revoke the tokens at Intuit, then forget them (a broken connection's tokens are forgotten already)."""
        with self.db.read() as unit:
            row = _row(unit)
        if row is not None and row[3]:
            with suppress(InvalidGrant, QBOConnectionBroken):  # already unusable: nothing left to revoke
                self.oauth.revoke(self.cipher.decrypt(row[3]))
        self.db.transact(_forget, actor, row[1] if row else None)
        return self.status()

    # --- state ------------------------------------------------------------------------------------------

    def status(self) -> ConnectionStatus:
        with self.db.read() as unit:
            return read_status(unit)

    def record_error(self, message: str) -> None:
        with self.db.write() as unit:
            _row(unit, lock=True)
            unit.execute(_ERROR, (message[:2000], unit.time(unit.now)))

    def clear_error(self, unit: Unit) -> None:
        unit.execute(_CLEAR_ERROR)

    def claim_error_alert(self) -> str | None:
        """The recorded error if the billing channel was not told about it yet; it is marked told (once)."""
        with self.db.write() as unit:
            found = unit.row(_UNALERTED)
            if found is None:
                return None
            unit.execute(_ALERTED)
            return str(found[0])

    # --- tokens -----------------------------------------------------------------------------------------

    def access_token(self) -> AccessToken:
        """A usable access token, refreshed first when it is about to expire."""
        with self.db.read() as unit:
            row = _connected_row(unit)
            expires = unit.read_time(row[4])
            if expires is not None and expires - REFRESH_AHEAD > unit.now:
                return AccessToken(self.cipher.decrypt(row[2]), int(row[6]), str(row[1]))
            version = int(row[6])
        return self.refresh(version)

    def refresh(self, stale_version: int) -> AccessToken:
        """Refresh the tokens unless another instance did since `stale_version` (see the module docstring)."""
        broken: str | None = None
        with self.db.write() as unit:
            row = _connected_row(unit, lock=True)
            version, realm_id = int(row[6]), str(row[1])
            expires = unit.read_time(row[4])
            if version != stale_version and expires is not None and expires - REFRESH_AHEAD > unit.now:
                return AccessToken(self.cipher.decrypt(row[2]), version, realm_id)
            try:
                grant = self.oauth.refresh(self.cipher.decrypt(row[3]))
            except InvalidGrant:
                broken = INVALID_GRANT
            else:
                unit.execute(
                    _ROTATE,
                    (
                        self.cipher.encrypt(grant.access_token),
                        self.cipher.encrypt(grant.refresh_token),
                        unit.time(unit.now + timedelta(seconds=grant.expires_in_s)),
                        _refresh_expiry(unit, grant),
                    ),
                )
                return AccessToken(grant.access_token, version + 1, realm_id)
        self.mark_broken(broken)
        raise QBOConnectionBroken(broken)

    def mark_broken(self, why: str) -> None:
        with self.db.write() as unit:
            _row(unit, lock=True)
            unit.execute(_BREAK, (why, unit.time(unit.now)))


def read_status(unit: Unit) -> ConnectionStatus:
    row = _row(unit)
    if row is None:
        return ConnectionStatus(False, DISCONNECTED, None, None, None, None, None, None)
    status, realm_id, _, _, access_at, refresh_at, _, polled_at, since, error, by, at = row
    return ConnectionStatus(
        connected=status == CONNECTED,
        status=status,
        realm_id=realm_id,
        access_expires_at=unit.read_time(access_at),
        refresh_expires_at=unit.read_time(refresh_at),
        last_poll_at=unit.read_time(polled_at),
        changed_since=unit.read_time(since),
        last_error=error,
        connected_by=by,
        connected_at=unit.read_time(at),
    )


def _row(unit: Unit, lock: bool = False) -> tuple[Any, ...] | None:
    row = unit.row(_LOCK if lock else _READ)
    if row is None and lock:
        unit.execute(_ENSURE)
        row = unit.row(_LOCK)
    return row


def _connected_row(unit: Unit, lock: bool = False) -> tuple[Any, ...]:
    row = _row(unit, lock=lock)
    if row is None or row[0] == DISCONNECTED or (row[0] == CONNECTED and not row[3]):
        raise QBONotConnected()
    if row[0] == BROKEN:
        raise QBOConnectionBroken(row[9] or INVALID_GRANT)
    return row


def _refresh_expiry(unit: Unit, grant: TokenGrant) -> Any:
    if grant.refresh_expires_in_s is None:
        return None
    return unit.time(unit.now + timedelta(seconds=grant.refresh_expires_in_s))


def _use_state(unit: Unit, state: str) -> None:
    found = unit.row(_TAKE_STATE, (state,))
    unit.execute(_DROP_STATE, (state, unit.time(unit.now)))
    if found is None:
        raise QBOAuthorizationFailed("this link was already used, or is not one creditbot made")
    expires = unit.read_time(found[1])
    if expires is None or expires < unit.now:
        raise QBOAuthorizationFailed("the link expired (links last 15 minutes)")


def _forget(unit: Unit, actor: str, realm_id: str | None) -> None:
    _row(unit, lock=True)
    unit.execute(_FORGET)
    history.record(unit, history.Line(actor, "qbo_disconnect", subject=f"qbo:{realm_id or '-'}",
                                      detail="disconnected from QuickBooks; tokens revoked and forgotten"))  # fmt: skip
