"""The import file's columns against the registration record: every field has its column, and cells read as officers write them."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services import import_files
from services.import_files import COLUMN_BY_FIELD, cell_value
from workflows.errors import RecordInvalid
from workflows.record_forms import form_fields

# The place columns take a code or a name; the record holds the codes.
PLACE = {"commune_code": "commune", "village_code": "village"}


def test_every_registration_field_has_a_column_and_no_column_is_unknown_to_the_record():
    fields = {PLACE.get(field.path, field.path) for field in form_fields("registration")}
    assert fields == set(COLUMN_BY_FIELD)
    required = {PLACE.get(field.path, field.path) for field in form_fields("registration") if field.required}
    # The commune defaults to yours; the consent, a box in a form, must be stated in a file.
    assert required - {"commune"} | {"consent.given"} == {c.field for c in import_files.COLUMNS if c.required}


@pytest.mark.parametrize(
    ("field", "cell", "value"),
    [
        ("date_of_birth", "14/3/2001", "2001-03-14"),
        ("date_of_birth", datetime(2001, 3, 14), "2001-03-14"),
        ("date_of_birth", date(2001, 3, 14), "2001-03-14"),
        ("date_of_birth", "2001-03-14", "2001-03-14"),
        ("sex", "Nữ", "female"),
        ("sex", "nam", "male"),
        ("sex", "female", "female"),
        ("source", "Họp thôn", "village_outreach"),
        ("source", "hop thon", "village_outreach"),
        ("consent.method", "Điện tử", "electronic"),
        ("priority.poor_household", "x", True),
        ("priority.poor_household", "Có", True),
        ("priority.poor_household", "không", False),
        ("priority.poor_household", True, True),
        ("priority.poor_household", "   ", None),
        ("personal_id", " 038201000001 ", "038201000001"),
    ],
)
def test_cells_read_as_an_officer_writes_them(field, cell, value):
    assert cell_value(COLUMN_BY_FIELD[field], cell) == (value, None)


def test_an_unknown_choice_names_the_words_it_takes_in_both_languages():
    value, found = cell_value(COLUMN_BY_FIELD["source"], "Đài phát thanh")
    assert value is None and found is not None
    assert "Họp thôn (village_outreach)" in found.vi and "village_outreach" in found.en


def test_a_number_where_digits_are_text_is_refused_rather_than_guessed():
    _, found = cell_value(COLUMN_BY_FIELD["phone"], 912345678)
    assert found is not None and found.code == "cell.number_not_text" and found.field == "phone"


def test_a_file_with_more_rows_than_the_limit_is_refused_whole():
    header = ",".join(c.header for c in import_files.COLUMNS)
    content = (header + "\n" + "x\n" * (import_files.MAX_ROWS + 1)).encode()
    with pytest.raises(RecordInvalid) as refused:
        import_files.read_table(content, "big.csv")
    assert refused.value.problems[0].code == "file.too_many_rows"
    assert len(import_files.read_table((header + "\n" + "x\n\n" * import_files.MAX_ROWS).encode(), "ok.csv").rows) == import_files.MAX_ROWS
