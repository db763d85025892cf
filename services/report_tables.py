"""The tables of a figures dict of indicators(), each one sheet of the XLSX export and one table of the printable page.

A table is plain rows of cells (text, whole numbers, shares, None for a share of nothing), with bilingual headers.
"Wide" tables have a column for the whole unit and then one per commune; the others a row per unit (the whole unit
first). The figures may be a submitted report's frozen copy read back from JSON: only dict and list access is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.charts import TRAININGS, months_of
from workflows.case import STATE_BY_NAME

Cell = str | int | float | None
WHOLE_UNIT, COMMUNE = ("Toàn đơn vị", "Whole unit"), ("Xã", "Commune")
SCOPE, UNIT = ("Phạm vi", "Scope"), ("Mã đơn vị", "Unit code")
BREAKDOWNS = {
    "by_market": ("Thị trường", "Market"),
    "by_programme": ("Chương trình", "Programme"),
    "by_sex": ("Giới tính", "Sex"),
    "by_ethnicity": ("Dân tộc", "Ethnicity"),
    "by_poverty": ("Hộ nghèo, cận nghèo", "Poverty status"),
    "by_priority_group": ("Nhóm ưu tiên", "Priority group"),
}
SUMMARY = (  # (vi, en, part, name): a unit's figure at figures[part][name]
    ("Xuất cảnh", "Departures", "departures", "total"),
    ("Chỉ tiêu năm (trên)", "Yearly target (more than)", "plan", "departures_more_than"),
    ("Vay NHCSXH", "Bank loans", "loans", "bank_loans"),
    ("Số tiền vay (VND)", "Loan amount (VND)", "loans", "amount_vnd"),
    ("Tự túc kinh phí", "Self-financed", "loans", "self_financed"),
    ("Lượt hỗ trợ", "Support payments", "support", "payments"),
    ("Tiền hỗ trợ (VND)", "Support paid (VND)", "support", "amount_vnd"),
    ("Về nước", "Returns", "outcomes", "returns"),
    ("Hoàn thành hợp đồng", "Completed", "outcomes", "completed"),
    ("Về trước hạn", "Early returns", "outcomes", "early_returns"),
    ("Bị trục xuất", "Deported", "outcomes", "deported"),
    ("Bỏ trốn", "Absconded", "outcomes", "absconded"),
    ("Cư trú quá hạn", "Overstayed", "outcomes", "overstayed"),
    ("Tử vong", "Deceased", "outcomes", "deceased"),
    ("Mất tích", "Missing", "outcomes", "missing"),
)


@dataclass(frozen=True)
class Table:
    """One table: its sheet name, bilingual title and headers, its rows, and how many leading columns name a row.

    `wide`: a column per commune after the whole unit's; `detail`: rows per commune after the whole unit's (the
    summary has neither flag: its rows per commune are the point of it).
    """

    sheet: str
    title: tuple[str, str]
    headers: list[tuple[str, str]]
    rows: list[list[Cell]]
    keys: int
    wide: bool = False
    detail: bool = False

    def whole_unit_only(self) -> Table:
        """Return the table with the whole unit's figures alone (its column of a wide table, its rows of a detail table)."""
        if self.wide:
            return Table(self.sheet, self.title, self.headers[: self.keys + 1], [row[: self.keys + 1] for row in self.rows], self.keys)
        if self.detail:
            whole = f"{WHOLE_UNIT[0]} / {WHOLE_UNIT[1]}"
            return Table(self.sheet, self.title, self.headers, [row for row in self.rows if row[0] == whole], self.keys)
        return self


def units_of(figures: Mapping[str, Any]) -> list[tuple[tuple[str, str], Mapping[str, Any]]]:
    """Return the whole unit's figures and then each commune's, each with its scope label."""
    return [(WHOLE_UNIT, figures["total"]), *((COMMUNE, row) for row in figures["communes"])]


def tables(figures: Mapping[str, Any]) -> list[Table]:
    """Return every table of a figures dict, in the order of the export."""
    return [_summary(figures), _by_month(figures), _breakdowns(figures), _training(figures), _support(figures), _backlog(figures),
            _deadlines(figures), _stages(figures)]  # fmt: skip


def _unit_rows(figures: Mapping[str, Any], cells: Any) -> list[list[Cell]]:
    """Return a row per unit and per item of it: the scope, the unit's code, then cells(unit) for each of its rows."""
    return [[f"{scope[0]} / {scope[1]}", unit["unit_code"], *row] for scope, unit in units_of(figures) for row in cells(unit)]


def _wide_headers(figures: Mapping[str, Any], keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    total = (f"{WHOLE_UNIT[0]} {figures['unit_code']}", f"{WHOLE_UNIT[1]} {figures['unit_code']}")
    return [*keys, total, *((row["unit_code"], row["unit_code"]) for row in figures["communes"])]


def _summary(figures: Mapping[str, Any]) -> Table:
    rows = _unit_rows(figures, lambda unit: [[unit[part][name] for _, _, part, name in SUMMARY]])
    return Table("Tổng hợp", ("Tổng hợp theo đơn vị", "Summary per unit"), [SCOPE, UNIT, *((vi, en) for vi, en, _, _ in SUMMARY)], rows, 2)


def _by_month(figures: Mapping[str, Any]) -> Table:
    units = [unit for _, unit in units_of(figures)]
    rows: list[list[Cell]] = [
        [month, *(int(unit["departures"].get("by_month", {}).get(month, 0)) for unit in units)]
        for month in months_of(figures["start"], figures["end"])
    ]
    headers = _wide_headers(figures, [("Tháng", "Month")])
    return Table("Theo tháng", ("Xuất cảnh theo tháng", "Departures per month"), headers, rows, 1, wide=True)


def _breakdowns(figures: Mapping[str, Any]) -> Table:
    units = [unit for _, unit in units_of(figures)]
    rows: list[list[Cell]] = []
    for key, (vi, en) in BREAKDOWNS.items():
        for value in sorted(figures["total"]["departures"][key]):
            rows.append([f"{vi} / {en}", key, value, *(int(unit["departures"][key].get(value, 0)) for unit in units)])
    headers = _wide_headers(figures, [("Phân theo", "Breakdown"), ("Mã phân loại", "Breakdown code"), ("Giá trị", "Value")])
    return Table("Xuất cảnh", ("Người xuất cảnh phân theo nhóm", "Departures by group"), headers, rows, 3, wide=True)


def _training(figures: Mapping[str, Any]) -> Table:
    def cells(unit: Mapping[str, Any]) -> list[list[Cell]]:
        return [[" / ".join(TRAININGS.get(row["training"], (row["training"],) * 2)), row["training"], row["departures"], row["trained"],
                 row["percent"], row["target_percent"], _met(row["met"])] for row in unit["training"]]  # fmt: skip

    headers = [SCOPE, UNIT, ("Đào tạo", "Training"), ("Mã", "Code"), ("Xuất cảnh", "Departures"), ("Đã đào tạo", "Trained"),
               ("Tỷ lệ (%)", "Share (%)"), ("Chỉ tiêu (%)", "Target (%)"), ("Đạt chỉ tiêu", "Target met")]  # fmt: skip
    return Table("Đào tạo", ("Đào tạo so với chỉ tiêu", "Training against targets"), headers, _unit_rows(figures, cells), 4, detail=True)


def _support(figures: Mapping[str, Any]) -> Table:
    def cells(unit: Mapping[str, Any]) -> list[list[Cell]]:
        items = unit["support"]["items"]
        return [[item, items[item]["payments"], items[item]["amount_vnd"]] for item in sorted(items)]

    headers = [SCOPE, UNIT, ("Khoản hỗ trợ", "Item"), ("Lượt chi", "Payments"), ("Số tiền (VND)", "Amount (VND)")]
    return Table("Hỗ trợ", ("Hỗ trợ đã chi theo khoản", "Support paid by item"), headers, _unit_rows(figures, cells), 3, detail=True)


def _backlog(figures: Mapping[str, Any]) -> Table:
    units = [unit for _, unit in units_of(figures)]
    rows: list[list[Cell]] = [
        [_state(state), state, *(int(unit["backlog"].get(state, 0)) for unit in units)] for state in figures["total"]["backlog"]
    ]
    headers = _wide_headers(figures, [("Bước", "State"), ("Mã bước", "State code")])
    return Table(
        "Tồn đọng", ("Hồ sơ đang mở cuối kỳ theo bước", "Open cases at the end of the period by state"), headers, rows, 2, wide=True
    )


def _deadlines(figures: Mapping[str, Any]) -> Table:
    def cells(unit: Mapping[str, Any]) -> list[list[Cell]]:
        return [[d["department"], d["deadlines_due"], d["deadlines_met"], d["met_percent"]] for d in unit["departments"]]

    headers = [SCOPE, UNIT, ("Bộ phận", "Department"), ("Đến hạn", "Due"), ("Đúng hạn", "Met"), ("Tỷ lệ đúng hạn (%)", "Met (%)")]
    return Table("Thời hạn", ("Thời hạn đến hạn trong kỳ và đúng hạn", "Deadlines due in the period and met"), headers,
                 _unit_rows(figures, cells), 3, detail=True)  # fmt: skip


def _stages(figures: Mapping[str, Any]) -> Table:
    def cells(unit: Mapping[str, Any]) -> list[list[Cell]]:
        return [
            [d["department"], s["from_state"], s["to_state"], s["cases"], s["median_days"]]
            for d in unit["departments"]
            for s in d["stages"]
        ]

    headers = [SCOPE, UNIT, ("Bộ phận", "Department"), ("Từ bước", "From state"), ("Đến bước", "To state"), ("Hồ sơ", "Cases"),
               ("Trung vị (ngày)", "Median (days)")]  # fmt: skip
    return Table(
        "Giai đoạn", ("Thời gian trung vị mỗi giai đoạn", "Median days per stage"), headers, _unit_rows(figures, cells), 5, detail=True
    )


def _met(met: bool | None) -> str:
    return "" if met is None else "Đạt / Met" if met else "Chưa đạt / Not met"


def _state(state: str) -> str:
    spec = STATE_BY_NAME.get(state)
    return f"{spec.label_vi} / {spec.label_en}" if spec else state
