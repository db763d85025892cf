"""Schemathesis against the app's own OpenAPI schema: no answer is a 5xx, and every answer matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from services.api.app import create_app
from tests.api.conftest import register_in


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["supervisor", "social_policy", "auditor"])  # each sees other answers: 200s, 403s, masked data
def test_no_route_answers_5xx_and_every_answer_matches_the_schema(rt, actors, token, client, role):
    register_in(rt, actors["social_policy"], 1)
    app = create_app(rt)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = token(role)
    failures: list[str] = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:200]}")
            case.validate_response(response, checks=[response_schema_conformance, status_code_conformance])

        run()
    assert not failures, "\n".join(failures)
