"""Personal data at rest: the sealing of sensitive record fields (AES-256-GCM) and the keyed hash for lookup by ID.

A sealed value is a token `enc1.<key id>.<base64url(nonce ‖ ciphertext)>` that replaces the field's value in
the record's canonical JSON, so the event history and the current records hold the same bytes and verify
proves them without the key. The field's name ("kind.field") is the associated data: a token moved to
another field does not open. Old keys stay listed (retired) so values sealed before a rotation still open.
The personal ID is found by an HMAC-SHA256 of it under a separate lookup key, never by its text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from config.settings import Settings
from workflows.history import canonical_json

PREFIX = "enc1."
KEY_BYTES = 32
NONCE_BYTES = 12


class KeysMissing(RuntimeError):
    """The keys that seal personal data are not configured (an operator's error, shown at start)."""


class CannotOpen(RuntimeError):
    """A sealed value does not open: its key is not configured, or the stored bytes were changed (a server fault)."""


def new_key() -> str:
    """Return a fresh random key, base64url-encoded (for the key file or the environment)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def decode_key(text: str, name: str) -> bytes:
    """Return a key's bytes from its base64 text, or raise KeysMissing naming the setting."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as error:
        raise KeysMissing(f"{name} is not base64: {error}") from error
    if len(key) != KEY_BYTES:
        raise KeysMissing(f"{name} must be {KEY_BYTES} bytes (base64 of 32 random bytes), not {len(key)}")
    return key


def key_id(key: bytes) -> str:
    """Return the short public name of a key (it says which key sealed a value, and reveals nothing of it)."""
    return hashlib.sha256(b"guestwork key id\x00" + key).hexdigest()[:8]


@dataclass(frozen=True)
class Keys:
    """The key that seals new values, the retired ones that still open old values, and the lookup key."""

    data: bytes
    lookup: bytes
    retired: tuple[bytes, ...] = ()


def write_key_file(path: Path) -> bool:
    """Create a key file with fresh keys, readable by its owner only; return False when one exists already."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# guestwork's keys for personal data at rest. Back this file up apart from the database:\n"
        "# without it the personal IDs and health data in the database cannot be read.\n"
        f'data_key = "{new_key()}"\nlookup_key = "{new_key()}"\nretired_data_keys = []\n'
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    return True


def load_keys(settings: Settings) -> Keys:
    """Return the keys from the settings, or else from the key file; raise KeysMissing saying how to make them."""
    data_key, lookup_key = (secret.get_secret_value() if secret else None for secret in (settings.data_key, settings.lookup_key))
    retired = [key.get_secret_value() for key in settings.retired_data_keys]
    if data_key is None and lookup_key is None and settings.key_file.exists():
        if settings.key_file.stat().st_mode & 0o077:
            raise KeysMissing(f"{settings.key_file} may be read by other users: `chmod 600 {settings.key_file}`")
        values = tomllib.loads(settings.key_file.read_text(encoding="utf-8"))
        data_key, lookup_key = values.get("data_key"), values.get("lookup_key")
        retired += values.get("retired_data_keys", [])
    if not data_key or not lookup_key:
        raise KeysMissing(
            "No keys for personal data: set GUESTWORK_DATA_KEY and GUESTWORK_LOOKUP_KEY (each from `guestwork keys new`), "
            f"or run `guestwork keys init` to create {settings.key_file} (the embedded mode; `make run` does it)."
        )
    keys = Keys(
        data=decode_key(data_key, "GUESTWORK_DATA_KEY"),
        lookup=decode_key(lookup_key, "GUESTWORK_LOOKUP_KEY"),
        retired=tuple(decode_key(text, "GUESTWORK_RETIRED_DATA_KEYS") for text in retired),
    )
    if keys.data == keys.lookup:
        raise KeysMissing("GUESTWORK_DATA_KEY and GUESTWORK_LOOKUP_KEY must be two different keys")
    return keys


class Sealer:
    """Seal and open the sensitive fields of records, and hash personal IDs for lookup."""

    def __init__(self, keys: Keys, fields: Iterable[tuple[str, str]]) -> None:
        self._current = key_id(keys.data)
        self._ciphers = {key_id(key): AESGCM(key) for key in (keys.data, *keys.retired)}
        self._lookup_key = keys.lookup
        self._fields: dict[str, frozenset[str]] = {}
        for kind, name in fields:
            self._fields[kind] = self._fields.get(kind, frozenset()) | {name}

    def sealed_fields(self, kind: str) -> frozenset[str]:
        """Return the fields of a record kind that are sealed at rest."""
        return self._fields.get(kind, frozenset())

    def seal_record(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return a record's data with its sensitive fields sealed (absent and null values stay as they are)."""
        names = self._fields.get(kind)
        if not names:
            return data
        return {key: self.seal(f"{kind}.{key}", value) if key in names and value is not None else value for key, value in data.items()}

    def open_record(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return a record's data with its sealed fields opened."""
        names = self._fields.get(kind)
        if not names:
            return data
        return {key: self.open(f"{kind}.{key}", value) if key in names else value for key, value in data.items()}

    def open_json(self, kind: str | None, record_json: str | None) -> str | None:
        """Return an event's record text with its sealed fields opened (for display; the stored text stays)."""
        if kind is None or record_json is None or kind not in self._fields:
            return record_json
        return canonical_json(self.open_record(kind, json.loads(record_json)))

    def seal_reason(self, kind: str | None, reason: str | None) -> str | None:
        """Seal an event's free-text reason when its record kind has sealed fields (a reason may repeat them)."""
        if reason is None or kind is None or kind not in self._fields:
            return reason
        return self.seal(f"event-reason:{kind}", reason)

    def open_reason(self, kind: str | None, reason: str | None) -> str | None:
        """Open an event's reason sealed by seal_reason (any other reason is returned as it is)."""
        if reason is None or kind is None:
            return reason
        opened: str = self.open(f"event-reason:{kind}", reason)
        return opened

    def seal(self, field: str, value: Any) -> str:
        """Seal one value of the field named `kind.field`."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        sealed = self._ciphers[self._current].encrypt(nonce, plain, field.encode())
        return f"{PREFIX}{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def open(self, field: str, value: Any) -> Any:
        """Open one sealed value; a value written before sealing began (not a token) is returned as it is."""
        if not (isinstance(value, str) and value.startswith(PREFIX)):
            return value
        kid, _, body = value[len(PREFIX) :].partition(".")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CannotOpen(f"{field}: sealed with key {kid}, which is not configured (GUESTWORK_RETIRED_DATA_KEYS?)")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field.encode())
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise CannotOpen(f"{field}: the sealed value was changed, or moved from another field") from error
        return json.loads(plain)

    def fingerprint(self) -> tuple[str, str, frozenset[str]]:
        """Return a check value of the lookup key, the current data key's id, and the ids of every key that opens."""
        check = hmac.new(self._lookup_key, b"guestwork lookup key check", hashlib.sha256).hexdigest()
        return check, self._current, frozenset(self._ciphers)

    def lookup(self, personal_id: str) -> str:
        """Return the keyed hash that finds a person by personal ID (the same ID always gives the same hash)."""
        return hmac.new(self._lookup_key, personal_id.strip().encode(), hashlib.sha256).hexdigest()
