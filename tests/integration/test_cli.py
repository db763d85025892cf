"""A newcomer's walk through the command line, as README shows it, on a fresh SQLite file."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "records"


def test_walk_a_case_from_registration_to_return(guestwork):
    guestwork("db", "upgrade")
    assert "seeded 50 demo cases" in guestwork("demo").stdout
    assert "case 51: registered (version 1)" in guestwork("case", "register", str(EXAMPLES / "registration.json")).stdout

    refused = guestwork("case", "fire", "51", "counsel", "--record", str(EXAMPLES / "counselling-expired-licence.json"), ok=False)
    assert "expired on 2025-01-09; it is not valid on the counselling day 2026-11-03" in refused.stderr
    assert "hết hiệu lực ngày 09/01/2025" in refused.stderr

    steps = [
        ("counsel", "counselling"),
        ("train", "training"),
        ("certify_health", "health"),
        ("approve_loan", "loan"),
        ("depart", "departure"),
    ]
    for version, (trigger, record) in enumerate(steps, start=1):
        out = guestwork("case", "fire", "51", trigger, "--record", str(EXAMPLES / f"{record}.json"), "--version", str(version)).stdout
        assert f"(version {version + 1})" in out

    stale = guestwork("case", "fire", "51", "return_home", "--record", str(EXAMPLES / "return.json"), "--version", "3", ok=False)
    assert "reload and try again" in stale.stderr

    shown = guestwork("case", "show", "51").stdout
    assert "State: departed" in shown and "return_home → returned by social_policy" in shown
    guestwork("case", "fire", "51", "return_home", "--record", str(EXAMPLES / "return.json"))

    history = guestwork("case", "history", "51").stdout.splitlines()
    assert [line.split()[4] for line in history] == [
        "register",
        "counsel",
        "train",
        "certify_health",
        "approve_loan",
        "depart",
        "return_home",
    ]
    assert "history intact" in guestwork("audit", "verify").stdout
    assert "class returned current" in guestwork("workflow", "diagram", "--case", "51").stdout


def test_bad_record_file_is_refused_with_a_clear_message(guestwork, tmp_path):
    guestwork("db", "upgrade")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    assert "must be a JSON object" in guestwork("case", "register", str(bad), ok=False).stderr
    bad.write_text("{not json", encoding="utf-8")
    assert "Cannot read" in guestwork("case", "register", str(bad), ok=False).stderr


def test_a_database_without_schema_is_named_with_the_fix(guestwork_process):
    refused = guestwork_process("status", ok=False)  # the real `python -m services.cli`, in a process of its own
    assert "run `guestwork db upgrade`" in refused.stderr and "chạy `guestwork db upgrade`" in refused.stderr


def test_a_correction_from_the_command_line_needs_the_version_read(guestwork):
    guestwork("db", "upgrade")
    guestwork("demo")
    guestwork("case", "register", str(EXAMPLES / "registration.json"))
    guestwork("case", "fire", "51", "counsel", "--record", str(EXAMPLES / "counselling.json"))
    refused = guestwork("case", "record", "51", "counselling", str(EXAMPLES / "counselling.json"), "--reason", "sửa", ok=False)
    assert "needs --version" in refused.stderr
    done = guestwork("case", "record", "51", "counselling", str(EXAMPLES / "counselling.json"), "--reason", "sửa", "--version", "2")
    assert "case 51: counselled (version 3)" in done.stdout


def test_a_support_engineer_shows_a_case_clocks_and_sweeps_at_a_given_moment(guestwork):
    guestwork("db", "upgrade")
    guestwork("demo")
    guestwork("case", "register", str(EXAMPLES / "registration.json"))
    shown = guestwork("deadlines", "show", "51").stdout
    assert "Counsel the registered worker" in shown and "due 23/12/2026" in shown
    assert "1. 18/12/2026 08:00  remind   → owner" in shown
    before = guestwork("deadlines", "sweep", "--now", "2026-12-17T09:00+07:00").stdout
    assert "case 51:" not in before
    swept = guestwork("deadlines", "sweep", "--now", "2026-12-18T09:00+07:00").stdout
    assert "✓ case 51: counselling rung 1 (remind) → social_policy" in swept
    assert "case 51:" not in guestwork("deadlines", "sweep", "--now", "2026-12-18T09:00+07:00").stdout  # once
    assert "1. 18/12/2026 08:00  remind   → owner                fired" in guestwork("deadlines", "show", "51").stdout
    wrong = guestwork("deadlines", "sweep", "--now", "tomorrow", ok=False)
    assert "Not a moment: 'tomorrow'" in wrong.stderr
