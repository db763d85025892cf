"""That the keys a process was given are the ones this database was sealed with, checked when the process starts.

A wrong lookup key fails silently otherwise: search by personal ID finds no one, and the one-case-per-person
rule no longer sees the person's case. A missing data key would only show when a sealed value is opened.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, inspect, select, text

from services.crypto import PREFIX, CannotOpen, KeysMissing
from services.models import Person, SealingKeys, UtcDateTime
from services.runtime import Runtime

_CLAIM = text(
    "INSERT INTO sealing_keys (id, lookup_check, data_key_id, recorded_at) VALUES (1, :check, :key_id, :at) ON CONFLICT (id) DO NOTHING"
).bindparams(bindparam("at", type_=UtcDateTime))


def check_keys(rt: Runtime) -> None:
    """Record the keys on a database that has none recorded yet, else refuse keys other than the recorded ones."""
    if not inspect(rt.engine).has_table("sealing_keys"):
        return  # not migrated yet: `guestwork db upgrade` runs before anything seals
    check, current, opening = rt.sealer.fingerprint()
    with rt.unit_of_work() as conn:
        if conn.execute(select(SealingKeys.id)).first() is None:
            _check_against_a_sealed_person(conn, rt)  # a database sealed before keys were recorded: prove them first
            conn.execute(_CLAIM, {"check": check, "key_id": current, "at": rt.clock.now()})
        recorded = conn.execute(select(SealingKeys.lookup_check, SealingKeys.data_key_id)).one()
    if recorded.lookup_check != check:
        raise KeysMissing(
            "GUESTWORK_LOOKUP_KEY is not the key this database was sealed with: search by personal ID and the one-case-per-person "
            "rule would silently fail. Use the original key (var/keys.toml or the environment it was created with)."
        )
    if recorded.data_key_id not in opening:
        raise KeysMissing(
            f"the data key that first sealed this database (id {recorded.data_key_id}) is not configured: set it as "
            "GUESTWORK_DATA_KEY or list it in GUESTWORK_RETIRED_DATA_KEYS."
        )


def _check_against_a_sealed_person(conn: Connection, rt: Runtime) -> None:
    """Refuse keys that do not open a sealed personal ID and give back its lookup hash (none sealed yet: nothing to prove)."""
    person = conn.execute(
        select(Person.personal_id_sealed, Person.personal_id_lookup).where(Person.personal_id_sealed.startswith(PREFIX)).limit(1)
    ).first()
    if person is None:
        return
    try:
        opened = rt.sealer.open("registration.personal_id", person.personal_id_sealed)
    except CannotOpen as error:
        raise KeysMissing(f"the data key does not open this database's personal data: {error}") from None
    if rt.sealer.lookup(opened) != person.personal_id_lookup:
        raise KeysMissing("GUESTWORK_LOOKUP_KEY is not the key this database's people are found by")
