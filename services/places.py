"""Finding a commune and a village of a user's scope by code or by name, as an officer writes them in a file or a form."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from services.models import AdminUnit
from services.users import Actor
from workflows.errors import Problem, problem
from workflows.identity import fold_name

# A village's name often carries its kind ("Thôn Tân Lập"); an officer may leave it out ("Tân Lập").
_VILLAGE_KINDS = ("thon ", "ban ", "ap ", "xom ", "to dan pho ")


@dataclass(frozen=True)
class Place:
    """A commune and one of its villages, by id and code."""

    commune_id: int
    commune_code: str
    village_id: int
    village_code: str


@dataclass(frozen=True)
class _Unit:
    id: int
    code: str
    name: str
    parent_id: int | None


class Places:
    """The communes of a user's scope and their villages, loaded once for a form or a whole file."""

    def __init__(self, communes: list[_Unit], villages: list[_Unit]) -> None:
        self.communes = communes
        self.villages = villages

    def find(
        self, commune: str | None, village: str | None, *, commune_field: str, village_field: str
    ) -> tuple[Place | None, list[Problem]]:
        """Return the place named (the commune may be left out when the scope holds one), or the problems why not."""
        found_commune, problems = self._commune(commune, commune_field)
        if found_commune is None:
            return None, problems
        if not (village or "").strip():
            return None, [problem("field.missing", "Thiếu thôn.", "The village is missing.", village_field)]
        matches = [v for v in self.villages if v.parent_id == found_commune.id and _names(str(village), v)]
        if len(matches) != 1:
            codes = ", ".join(v.code for v in matches)
            vi = (
                f"Thôn '{village}' trùng tên với: {codes}; hãy ghi mã thôn."
                if matches
                else f"Không có thôn '{village}' ở {found_commune.name}."
            )
            en = (
                f"Village '{village}' matches several: {codes}; give its code."
                if matches
                else f"No village '{village}' in {found_commune.name}."
            )
            return None, [problem("unit.village", vi, en, village_field)]
        return Place(found_commune.id, found_commune.code, matches[0].id, matches[0].code), []

    def _commune(self, commune: str | None, field: str) -> tuple[_Unit | None, list[Problem]]:
        if not (commune or "").strip():
            if len(self.communes) == 1:
                return self.communes[0], []
            vi, en = "Bạn phụ trách nhiều xã: hãy ghi mã xã.", "You work for several communes: give the commune's code."
            return None, [problem("unit.commune_required", vi, en, field)]
        matches = [c for c in self.communes if _names(str(commune), c)]
        if len(matches) != 1:
            vi, en = f"Không có xã '{commune}' trong phạm vi của bạn.", f"No commune '{commune}' in your scope."
            return None, [problem("unit.commune", vi, en, field)]
        return matches[0], []


def _names(written: str, unit: _Unit) -> bool:
    """Tell whether what was written is the unit's code, or its name with or without accents or its kind word."""
    wanted = fold_name(written)
    name = fold_name(unit.name)
    bare = next((name.removeprefix(kind) for kind in _VILLAGE_KINDS if name.startswith(kind)), name)
    return wanted in (unit.code.lower(), name, bare)


def in_scope(conn: Connection, actor: Actor) -> Places:
    """Load the communes of the user's scope and their villages."""
    columns = (AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.parent_id)
    query = select(*columns).where(AdminUnit.kind == "commune")
    if actor.communes is not None:
        query = query.where(AdminUnit.id.in_(sorted(actor.communes)))
    communes = [_Unit(*row) for row in conn.execute(query.order_by(AdminUnit.code))]
    villages = conn.execute(
        select(*columns).where(AdminUnit.kind == "village", AdminUnit.parent_id.in_([c.id for c in communes])).order_by(AdminUnit.code)
    )
    return Places(communes, [_Unit(*row) for row in villages])
