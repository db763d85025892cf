"""The personal ID and health data are sealed in the database, yet found, shown to those who may see them, and verified."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select, text

from config.settings import Settings
from services import audit, cases, migrate, queries
from services.crypto import CannotOpen, Keys, Sealer, new_key
from services.db import make_engine
from services.models import Base
from services.runtime import build_runtime
from tests import factories as f


def _walk_to_health(rt, actors, clock):
    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    for trigger in f.MAIN_PATH[:3]:  # counsel, train, certify health
        clock.advance(days=7)
        ref = f.step(rt, actors, ref.id, trigger)
    return ref


def _every_stored_text(conn) -> str:
    """Return every value of every table, as text (what a copy of the database would show)."""
    return "\n".join(str(row) for table in Base.metadata.sorted_tables for row in conn.execute(select(table)))


def test_the_database_holds_no_personal_id_or_health_result_in_clear(rt, actors, clock):
    ref = _walk_to_health(rt, actors, clock)
    personal_id = f.registration(rt.today())["personal_id"]
    corrected = f.health(rt.today(), certificate_number="SK-77")
    version = queries.case_detail(rt, ref.id)["version"]
    cases.put_record(rt, actors["office"], ref.id, "health", corrected, expected_version=version, reason="Viêm gan B, ghi lại SK-77")
    with rt.unit_of_work(writes=False) as conn:
        stored = _every_stored_text(conn)
        assert personal_id not in stored
        assert '"result":"fit"' not in stored and "SK-1" not in stored and "SK-77" not in stored
        assert "Viêm gan B" not in stored  # a health record's reason may repeat health data: sealed too
        assert "Nguyễn Văn An" in stored  # only the fields the policy seals are sealed
        assert audit.verify(conn).ok  # the chain covers the stored (sealed) bytes: no key needed to prove it
    shown = queries.case_detail(rt, ref.id, actors["social_policy"])
    assert shown["person"]["personal_id"] == personal_id
    assert shown["records"]["health"]["result"] == "fit"
    assert queries.case_history(rt, ref.id, actors["office"])[-1]["reason"] == "Viêm gan B, ghi lại SK-77"


def test_a_person_is_found_and_kept_unique_by_personal_id(rt, actors):
    registration = f.registration(rt.today())
    ref = cases.register(rt, actors["social_policy"], registration)
    found = queries.list_cases(rt, actor=actors["social_policy"], text_query=registration["personal_id"])
    assert [row["id"] for row in found] == [ref.id]
    with pytest.raises(Exception) as refused:
        cases.register(rt, actors["social_policy"], {**registration, "full_name": "Nguyễn Văn Bình"})
    assert refused.value.problems[0].code == "person.has_case"
    assert f"case {ref.id}" in refused.value.problems[0].en


def test_history_shows_the_opened_record_to_a_reader_who_may_see_it(rt, actors, clock):
    ref = _walk_to_health(rt, actors, clock)
    health = next(e for e in queries.case_history(rt, ref.id, actors["office"]) if e["record_kind"] == "health")
    assert '"result":"fit"' in health["record_json"]
    masked = next(e for e in queries.case_history(rt, ref.id, actors["police"]) if e["record_kind"] == "health")
    assert "fit" not in masked["record_json"] and "enc1." not in masked["record_json"]


def test_a_correction_of_the_registration_keeps_the_person_row_and_history_in_step(rt, actors):
    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    corrected = f.registration(rt.today(), serial=2)
    cases.put_record(rt, actors["social_policy"], ref.id, "registration", corrected, expected_version=1, reason="sai số CCCD")
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn).ok  # the person row holds the same sealed token as the corrected record
    assert queries.list_cases(rt, actor=actors["social_policy"], text_query=corrected["personal_id"])[0]["id"] == ref.id
    assert queries.list_cases(rt, actor=actors["social_policy"], text_query=f.registration(rt.today())["personal_id"]) == []


def test_without_the_key_sealed_data_does_not_open_and_says_which_key(rt, actors):
    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    stranger = dataclasses.replace(rt, sealer=Sealer(Keys(data=bytes(32), lookup=bytes(32)), rt.access.encrypted_fields()))
    with pytest.raises(CannotOpen, match="not configured"):
        queries.case_detail(stranger, ref.id, actors["social_policy"])


def test_a_rotated_data_key_still_opens_what_the_old_one_sealed(rt, actors, monkeypatch):
    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    old = Settings().data_key.get_secret_value()
    monkeypatch.setenv("GUESTWORK_DATA_KEY", new_key())
    monkeypatch.setenv("GUESTWORK_RETIRED_DATA_KEYS", f'["{old}"]')
    rotated = build_runtime(Settings(), engine=rt.engine, clock=rt.clock)
    assert queries.case_detail(rotated, ref.id, actors["social_policy"])["person"]["personal_id"].isdigit()
    second = cases.register(rotated, actors["social_policy"], f.registration(rt.today(), serial=9))
    assert queries.case_detail(rotated, second.id, actors["social_policy"])["records"]["registration"]["personal_id"].isdigit()


def test_the_migration_gives_rows_written_before_it_their_lookup_hash(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        migrate.command.upgrade(config, "0005")
        conn.execute(
            text(
                "INSERT INTO persons (id, personal_id, full_name, search_name, date_of_birth, sex, ethnicity, phone)"
                " VALUES (1, '038201000001', 'Lê Thị Hoa', 'le thi hoa', '2001-01-01', 'female', 'Kinh', '0900000000')"
            )
        )
    migrate.upgrade(engine, build_runtime(Settings(), engine=engine).policy)
    rt = build_runtime(Settings(), engine=engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT personal_id_sealed, personal_id_lookup FROM persons")).one()
    assert row.personal_id_sealed == "038201000001"  # kept as its immutable history has it
    assert row.personal_id_lookup == rt.sealer.lookup("038201000001")
    engine.dispose()


def test_a_process_with_other_keys_than_the_database_was_sealed_with_is_refused_at_start(rt, monkeypatch):
    from services.crypto import KeysMissing
    from services.key_check import check_keys

    check_keys(rt)  # the first process with keys records them
    check_keys(rt)  # and the same keys pass again
    monkeypatch.setenv("GUESTWORK_LOOKUP_KEY", new_key())
    with pytest.raises(KeysMissing, match="GUESTWORK_LOOKUP_KEY is not the key"):
        check_keys(build_runtime(Settings(), engine=rt.engine, clock=rt.clock))
    monkeypatch.undo()
    monkeypatch.setenv("GUESTWORK_DATA_KEY", new_key())
    with pytest.raises(KeysMissing, match="data key that first sealed"):
        check_keys(build_runtime(Settings(), engine=rt.engine, clock=rt.clock))


def test_on_a_database_sealed_before_keys_were_recorded_the_first_keys_must_open_its_people(rt, actors, monkeypatch):
    from services.crypto import KeysMissing
    from services.key_check import check_keys

    cases.register(rt, actors["social_policy"], f.registration(rt.today()))  # sealed, and no keys recorded yet
    monkeypatch.setenv("GUESTWORK_LOOKUP_KEY", new_key())
    with pytest.raises(KeysMissing, match="found by"):
        check_keys(build_runtime(Settings(), engine=rt.engine, clock=rt.clock))
    monkeypatch.undo()
    check_keys(rt)  # the right keys are proven against the person, then recorded
