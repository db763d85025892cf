"""Fixtures for the HTTP side: the app over the test database, a second province with its own commune, logins per user."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from services import auth, cases, demo
from services.api.app import create_app
from services.models import AdminUnit, User
from services.runtime import Runtime
from services.users import Actor, load_actor
from tests import factories as f

OTHER_COMMUNE, OTHER_VILLAGE = "CB-NAMTUAN", "CB-NAMTUAN-01"
# Whose tokens the tests use: one officer per department of the demo commune, its supervisor, the province's, the others.
USERS = [dept for dept, _ in demo.USERS] + ["supervisor", "province_supervisor", "auditor", "admin"]


@pytest.fixture
def other_commune(rt: Runtime) -> dict[str, Actor]:
    """Add a commune of another province (Cao Bằng) with a social-policy officer, an enterprise officer and a supervisor."""
    with rt.unit_of_work() as conn:
        province = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id), {"code": "04", "name": "Tỉnh Cao Bằng", "kind": "province"}
        ).scalar_one()
        commune = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id),
            {"code": OTHER_COMMUNE, "name": "Xã Nam Tuấn", "kind": "commune", "parent_id": province},
        ).scalar_one()
        conn.execute(insert(AdminUnit), {"code": OTHER_VILLAGE, "name": "Bản Nà Pò", "kind": "village", "parent_id": commune})
        password = auth.hash_password(demo.DEMO_PASSWORD)
        people = [
            ("b_social_policy", "officer", "social_policy"),
            ("b_enterprise", "officer", "enterprise"),
            ("b_supervisor", "supervisor", None),
        ]
        conn.execute(
            insert(User),
            [
                {"username": name, "full_name": name, "role": role, "department_code": dept, "unit_id": commune, "active": True,
                 "password_hash": password}
                for name, role, dept in people
            ],
        )  # fmt: skip
        return {name: load_actor(conn, name) for name, _, _ in people}


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    """The whole application (API and pages) over the test database, as a browser on its own pages (same origin)."""
    return TestClient(create_app(rt), headers={"Origin": "http://testserver"})


@pytest.fixture
def token(client: TestClient) -> Callable[[str], dict[str, str]]:
    """Log a user in through the API once; return the Authorization header for them."""
    issued: dict[str, dict[str, str]] = {}

    def header(username: str) -> dict[str, str]:
        if username not in issued:
            answer = client.post("/api/auth/token", json={"username": username, "password": demo.DEMO_PASSWORD})
            assert answer.status_code == 200, answer.text
            issued[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return issued[username]

    return header


def register_in(rt: Runtime, actor: Actor, serial: int, commune: str = f.COMMUNE, village: str = f.VILLAGE, **overrides: object) -> int:
    """Register a worker through the service; return the case id."""
    return cases.register(rt, actor, f.registration(rt.today(), serial, commune_code=commune, village_code=village, **overrides)).id
