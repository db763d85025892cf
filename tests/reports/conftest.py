"""The report tests use the second province's commune of the API tests."""

from tests.api.conftest import other_commune  # noqa: F401
