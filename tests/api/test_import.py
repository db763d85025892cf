"""Importing registrations from a file through the API: good rows register, a bad row writes nothing, a dry run writes nothing."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from services import import_files
from services.models import Case, Event, Person
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE, OTHER_VILLAGE
from tests.import_files import csv_file, row_of, xlsx_file

URL = "/api/imports/registrations"


def _written(rt) -> tuple[int, int, int]:
    """Count persons, cases and events: what an import wrote."""
    with rt.unit_of_work(writes=False) as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar_one() for table in (Person, Case, Event))


def _mixed_rows(today):
    """Two good rows (one with a village by name, Vietnamese words and dates) and four bad ones, each bad for its own reason."""
    first = f.registration(today, 1)
    second = f.registration(today, 2, sex="female", full_name="Lê Thị Bình")
    born, consented = f.registration(today, 2)["date_of_birth"], today.isoformat()
    return [
        row_of(first),  # row 2
        row_of(f.registration(today, 3), phone="12", consent__given="không"),  # row 3: two problems
        row_of(second, village="Tân Lập", sex="Nữ", source="Họp thôn", date_of_birth=_vi(born), consent__given_on=_vi(consented)),  # row 4
        row_of(f.registration(today, 1, full_name="Nguyễn Văn An (lặp)")),  # row 5: the same ID as row 2
        row_of(f.registration(today, 5), village="Thôn Không Có"),  # row 6
        row_of(f.registration(today, 6), personal_id="038099000006"),  # row 7: the ID does not agree with the birth year
    ]


def _vi(iso: str) -> str:
    """Write an ISO date the Vietnamese way (dd/mm/yyyy), as an officer types it."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def _upload(client, headers, content: bytes, name: str, *, dry_run: bool = False):
    return client.post(URL, params={"dry_run": dry_run}, files={"file": (name, content)}, headers=headers)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_good_rows_register_and_bad_rows_write_nothing_with_each_problem_in_both_languages(client, token, rt, kind):
    rows = _mixed_rows(rt.today())
    content = csv_file(rows) if kind == "csv" else xlsx_file(rows)
    answer = _upload(client, token("social_policy"), content, f"dang-ky.{kind}")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["file_kind"] == kind and report["dry_run"] is False
    assert report["counts"] == {"rows": 6, "registered": 2, "valid": 0, "refused": 4}
    by_row = {row["row"]: row for row in report["rows"]}
    assert [by_row[n]["status"] for n in range(2, 8)] == ["registered", "refused", "registered", "refused", "refused", "refused"]
    assert _written(rt) == (2, 2, 2)  # two persons, two cases, two register events: nothing of the refused rows
    problems = {n: {p["field"]: p for p in by_row[n]["problems"]} for n in range(2, 8)}
    assert set(problems[3]) == {"phone", "consent.given"}
    assert problems[3]["phone"]["column"] == "Số điện thoại (phone)"
    assert problems[5]["personal_id"]["code"] == "import.duplicate_id" and "row 2" in problems[5]["personal_id"]["en"]
    assert problems[6]["village"]["code"] == "unit.village" and "Thôn Không Có" in problems[6]["village"]["vi"]
    assert "personal_id" in problems[7]
    for row in problems.values():
        for found in row.values():
            assert found["vi"] and found["en"] and found["vi"] != found["en"]
    second = client.get(f"/api/cases/{by_row[4]['case_id']}", headers=token("social_policy")).json()
    assert second["village"] == "Thôn Tân Lập" and second["source"] == "village_outreach" and second["person"]["sex"] == "female"


def test_a_dry_run_writes_nothing_and_the_confirmed_import_then_registers(client, token, rt):
    content = xlsx_file(_mixed_rows(rt.today()))
    checked = _upload(client, token("social_policy"), content, "dang-ky.xlsx", dry_run=True).json()
    assert checked["dry_run"] is True and checked["counts"] == {"rows": 6, "registered": 0, "valid": 2, "refused": 4}
    assert all(row["case_id"] is None for row in checked["rows"])
    assert _written(rt) == (0, 0, 0)
    done = _upload(client, token("social_policy"), content, "dang-ky.xlsx").json()
    assert [row["status"] for row in done["rows"]] == [row["status"].replace("valid", "registered") for row in checked["rows"]]
    again = _upload(client, token("social_policy"), content, "dang-ky.xlsx", dry_run=True).json()
    assert again["counts"]["valid"] == 0  # now each good row's person has a case, and the check says which
    has_case = [p for row in again["rows"] for p in row["problems"] if p["code"] == "person.has_case"]
    assert len(has_case) == 2 and f"case {done['rows'][0]['case_id']}" in has_case[0]["en"]
    assert _written(rt) == (2, 2, 2)


def test_the_template_round_trips_and_keeps_ids_as_text(client, token, rt):
    template = client.get(f"{URL}/template.xlsx", headers=token("social_policy"))
    assert template.status_code == 200 and template.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(template.content))
    assert [c.value for c in book.worksheets[0][1]] == [c.header for c in import_files.COLUMNS]
    assert book.worksheets[1].max_row == len(import_files.COLUMNS) + 1  # the guide: one line per column
    header = client.get(f"{URL}/template.csv", headers=token("social_policy")).content.decode("utf-8-sig").strip()
    assert header.split(",")[0] == "Họ và tên (full_name)"
    numeric = xlsx_file([row_of(f.registration(rt.today(), 9), personal_id=38099000009)])  # typed into a Number cell
    [row] = _upload(client, token("social_policy"), numeric, "so.xlsx").json()["rows"]
    assert row["status"] == "refused" and row["problems"][0]["code"] == "cell.number_not_text"


def test_headers_by_english_or_vietnamese_name_and_a_semicolon_csv_are_read(client, token, rt):
    row = row_of(f.registration(rt.today(), 10))
    header = [c.field if n % 2 else c.label_vi for n, c in enumerate(import_files.COLUMNS)]
    answer = _upload(client, token("social_policy"), csv_file([row], header=header, delimiter=";"), "excel-vn.csv").json()
    assert answer["counts"]["registered"] == 1


@pytest.mark.parametrize(
    ("content", "name", "code", "status"),
    [
        (b"", "empty.csv", "file.empty", 422),
        (b"\n\n  \n", "blank.csv", "file.empty", 422),
        ("Họ và tên (full_name)\n".encode(), "header-only.csv", "header.missing", 422),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "photo.png", "file.type", 422),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "file.xls", 422),
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "file.type", 422),
        (b"x" * (import_files.MAX_BYTES + 1), "huge.csv", "file.too_large", 413),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole_in_both_languages(client, token, rt, content, name, code, status):
    answer = _upload(client, token("social_policy"), content, name)
    assert answer.status_code == status, answer.text
    problems = answer.json()["problems"]
    assert code in [p["code"] for p in problems] and all(p["vi"] != p["en"] for p in problems)
    assert _written(rt) == (0, 0, 0)


def test_a_header_that_does_not_match_names_each_column(client, token, rt):
    header = [c.header for c in import_files.COLUMNS if c.field != "personal_id"] + ["Ghi chú riêng", "Ngày sinh"]
    answer = _upload(client, token("social_policy"), csv_file([], header=header) + b"x\n", "sai-tieu-de.csv")
    assert answer.status_code == 422
    by_code = {p["code"]: p for p in answer.json()["problems"]}
    assert "Ghi chú riêng" in by_code["header.unknown"]["vi"] and "Ghi chú riêng" in by_code["header.unknown"]["en"]
    assert "personal_id" in by_code["header.missing"]["en"] and "header.duplicate" in by_code
    header_only = _upload(client, token("social_policy"), csv_file([]), "chi-tieu-de.csv")
    assert header_only.status_code == 422 and header_only.json()["problems"][0]["code"] == "file.no_rows"


def test_who_may_import_and_rows_outside_the_scope(client, token, rt, other_commune):
    content = csv_file([row_of(f.registration(rt.today(), 20))])
    assert _upload(client, token("enterprise"), content, "a.csv").status_code == 403
    assert _upload(client, token("police"), content, "a.csv").status_code == 403
    assert client.post(URL, files={"file": ("a.csv", content)}).status_code == 401
    theirs = csv_file([row_of(f.registration(rt.today(), 21, commune_code=OTHER_COMMUNE, village_code=OTHER_VILLAGE))])
    [row] = _upload(client, token("social_policy"), theirs, "b.csv").json()["rows"]
    assert row["status"] == "refused" and row["problems"][0]["code"] == "unit.commune"
    assert _upload(client, token("supervisor"), content, "a.csv").json()["counts"]["registered"] == 1
    assert _upload(client, token("b_social_policy"), theirs, "b.csv").json()["counts"]["registered"] == 1
    assert _written(rt) == (2, 2, 2)


def test_a_chunked_upload_with_no_declared_size_is_stopped_at_the_limit(token, rt):
    import asyncio

    import httpx

    from services.api.app import create_app

    boundary, sent = "gwboundary", 0
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\nContent-Type: text/csv\r\n\r\n'

    async def body():  # an async body goes out chunked, without Content-Length, read as the app asks for it
        nonlocal sent
        yield head.encode()
        for _ in range(30):  # up to 30 MB, far past the 2 MB limit
            sent += 1
            yield b"x" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    async def upload() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = {**token("social_policy"), "Content-Type": f"multipart/form-data; boundary={boundary}"}
            return await client.post("/api/imports/registrations", content=body(), headers=headers)

    answer = asyncio.run(upload())
    assert answer.status_code == 413 and answer.json()["problems"][0]["code"] == "file.too_large"
    assert sent <= 4, f"{sent} MB were read before the refusal"
    assert _written(rt) == (0, 0, 0)
