"""Sealing personal data: what a token hides, what it binds, and how keys are found and rotated."""

from __future__ import annotations

import stat

import pytest

from config.settings import Settings
from services.crypto import CannotOpen, Keys, KeysMissing, Sealer, load_keys, new_key, write_key_file

FIELDS = (("registration", "personal_id"), ("health", "result"))


def sealer(data: bytes = b"d" * 32, lookup: bytes = b"l" * 32, retired: tuple[bytes, ...] = ()) -> Sealer:
    return Sealer(Keys(data=data, lookup=lookup, retired=retired), FIELDS)


def test_a_sealed_record_hides_only_the_sensitive_fields_and_opens_again():
    record = {"personal_id": "038095001234", "full_name": "Nguyễn Văn An", "phone": None}
    sealed = sealer().seal_record("registration", record)
    assert sealed["full_name"] == "Nguyễn Văn An" and sealed["phone"] is None
    assert sealed["personal_id"].startswith("enc1.") and "038095001234" not in sealed["personal_id"]
    assert sealer().open_record("registration", sealed) == record


def test_the_same_value_seals_differently_each_time_but_finds_the_same_lookup_hash():
    one, two = sealer().seal("registration.personal_id", "038095001234"), sealer().seal("registration.personal_id", "038095001234")
    assert one != two
    assert sealer().lookup("038095001234") == sealer().lookup(" 038095001234 ")
    assert sealer().lookup("038095001234") != sealer(lookup=b"x" * 32).lookup("038095001234")


def test_a_token_moved_to_another_field_or_changed_does_not_open():
    token = sealer().seal("health.result", "fit")
    with pytest.raises(CannotOpen, match="changed, or moved"):
        sealer().open("registration.personal_id", token)
    changed = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(CannotOpen):
        sealer().open("health.result", changed)


def test_a_retired_key_opens_old_values_and_an_unknown_key_is_named():
    old = sealer(data=b"o" * 32).seal("health.result", "unfit")
    assert sealer(retired=(b"o" * 32,)).open("health.result", old) == "unfit"
    with pytest.raises(CannotOpen, match="not configured"):
        sealer().open("health.result", old)


def test_a_value_written_before_sealing_began_reads_as_it_is():
    assert sealer().open("registration.personal_id", "038095001234") == "038095001234"


def test_keys_come_from_the_settings_or_the_key_file(tmp_path):
    with pytest.raises(KeysMissing, match="guestwork keys init"):
        load_keys(Settings(data_key=None, lookup_key=None, key_file=tmp_path / "keys.toml"))
    assert write_key_file(tmp_path / "keys.toml") and not write_key_file(tmp_path / "keys.toml")
    assert stat.S_IMODE((tmp_path / "keys.toml").stat().st_mode) == 0o600
    from_file = load_keys(Settings(data_key=None, lookup_key=None, key_file=tmp_path / "keys.toml"))
    assert len(from_file.data) == 32 and from_file.data != from_file.lookup
    given = new_key()
    assert load_keys(Settings(data_key=given, lookup_key=new_key(), key_file=tmp_path / "none")).data != from_file.data


def test_a_malformed_key_is_refused_with_the_setting_named(tmp_path):
    with pytest.raises(KeysMissing, match="GUESTWORK_DATA_KEY must be 32 bytes"):
        load_keys(Settings(data_key="c2hvcnQ=", lookup_key=new_key(), key_file=tmp_path / "none"))


def test_a_reason_is_sealed_only_for_a_record_kind_with_sealed_fields():
    sealed = sealer().seal_reason("health", "Viêm gan B")
    assert sealed.startswith("enc1.") and sealer().open_reason("health", sealed) == "Viêm gan B"
    assert sealer().seal_reason("counselling", "Đổi doanh nghiệp") == "Đổi doanh nghiệp"
    assert sealer().seal_reason(None, "Nghỉ phép") == "Nghỉ phép" and sealer().seal_reason("health", None) is None


def test_a_garbled_token_is_a_clear_error_not_a_crash():
    token = sealer().seal("health.result", "fit")
    with pytest.raises(CannotOpen):
        sealer().open("health.result", token[:-5] + "!!*#$")


def test_one_key_for_both_uses_or_a_key_file_others_can_read_is_refused(tmp_path):
    same = new_key()
    with pytest.raises(KeysMissing, match="two different keys"):
        load_keys(Settings(data_key=same, lookup_key=same, key_file=tmp_path / "none"))
    write_key_file(tmp_path / "keys.toml")
    (tmp_path / "keys.toml").chmod(0o644)
    with pytest.raises(KeysMissing, match="chmod 600"):
        load_keys(Settings(data_key=None, lookup_key=None, key_file=tmp_path / "keys.toml"))


def test_a_misspelt_sensitive_field_in_the_access_policy_is_refused_at_load():
    from workflows.access import build_access_policy

    with pytest.raises(ValueError, match=r"health\.resultt"):
        build_access_policy({"sensitive": {"health": {"fields": ["health.resultt"], "encrypt": True}}})


def test_sealing_a_field_the_reports_count_from_is_refused_at_load_and_the_shipped_policy_passes():
    from config.policy import load_access
    from config.settings import CONFIG_DIR
    from workflows.access import build_access_policy

    loan = {"fields": ["loan.amount_vnd", "loan.collateral"], "encrypt": True, "roles": ["supervisor"]}
    with pytest.raises(ValueError, match=r"loan\.amount_vnd.*reports count from.*/ .*báo cáo dùng để thống kê"):
        build_access_policy({"sensitive": {"loan": loan}})
    assert build_access_policy({"sensitive": {"loan": {**loan, "encrypt": False}}}).encrypted_fields() == ()
    shipped = load_access(CONFIG_DIR / "access.toml").encrypted_fields()
    assert ("registration", "personal_id") in shipped and ("health", "result") in shipped


def test_every_field_migration_0015_derives_a_report_figure_from_is_named_as_one_not_to_seal():
    import importlib.util
    import re
    from pathlib import Path

    import services
    from workflows.access import REPORTED_FIELDS
    from workflows.record_forms import record_fields

    path = Path(services.__file__).parent / "migrations" / "versions" / "0015_record_report_figures.py"
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    for dialect in ("sqlite", "postgresql"):
        sql = " ".join(sql for _, sql in migration.expressions(dialect).values())
        read = set(re.findall(r"'\$\.(\w+)", sql)) | set(re.findall(r"#>>? '\{(\w+)", sql))
        assert read == {name for _, name in REPORTED_FIELDS}, dialect
    dated = {(kind, name) for kind, names in migration.DATED_RECORDS.items() for name in names}
    assert dated <= set(REPORTED_FIELDS)
    assert all(name in {known for known, _ in record_fields(kind)} for kind, name in REPORTED_FIELDS)
