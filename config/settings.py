"""Typed settings read from the environment, built on first use."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Everything an operator may set; defaults run the embedded mode from the current folder."""

    # The environment only: a .env file belongs to docker compose, whose host names mean nothing here.
    model_config = SettingsConfigDict(env_prefix="GUESTWORK_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/guestwork.db",
        validation_alias=AliasChoices("DATABASE_URL", "GUESTWORK_DATABASE_URL"),
        description="SQLAlchemy URL of the database; SQLite file under var/ by default.",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        description="Database connections each process keeps for reuse: as many as the requests or tasks it runs at once "
        "(past it, up to 10 more are opened and closed per use, which costs a new session each time).",
    )
    broker_url: str = Field(
        default="sqla+sqlite:///var/broker.db",
        validation_alias=AliasChoices("BROKER_URL", "GUESTWORK_BROKER_URL"),
        description="Celery broker URL; kombu's SQLAlchemy transport on SQLite by default.",
    )
    policy_file: Path = Field(default=CONFIG_DIR / "policy.toml", description="Rule values and markets.")
    clocks_file: Path = Field(default=CONFIG_DIR / "clocks.toml", description="The legal clocks and their reminder ladders.")
    access_file: Path = Field(default=CONFIG_DIR / "access.toml", description="Who sees which personal data; separation of duties.")
    departments_file: Path = Field(default=CONFIG_DIR / "departments.toml", description="The departments and their queues.")
    plans_file: Path = Field(default=CONFIG_DIR / "plans.toml", description="Default plan targets per unit kind and year.")
    support_file: Path = Field(default=CONFIG_DIR / "support.toml", description="Support items to priority groups and their caps.")
    broker_key_prefix: str = Field(
        default="", description="Prefix of every Redis key the broker writes (several deployments or test runs on one Redis)."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail reminders; unset = no e-mail.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_sender: str = Field(default="guestwork@localhost", description="From address of reminder e-mails.")
    webhooks: dict[str, str] = Field(
        default_factory=dict,
        description='Department -> URL that receives a POST (ids only) for each message to that department, e.g. {"bank": "https://..."}.',
    )
    delivery_lease_seconds: int = Field(
        default=60,
        description="How long one attempt holds an e-mail or webhook delivery before another may send it (> the 10 s send timeout).",
    )
    language: str = Field(default="vi", description="Language of notifications: vi or en.")
    relay_every_seconds: float = Field(default=2.0, description="How often the outbox relay sends what is still pending.")
    republish_after_seconds: int = Field(
        default=300, description="A message published this long ago and never handled is published again (the reconciler)."
    )
    data_key: SecretStr | None = Field(
        default=None,
        description="Key that seals the personal ID and health data at rest (base64 of 32 random bytes: `guestwork keys new`).",
    )
    lookup_key: SecretStr | None = Field(
        default=None, description="Key of the keyed hash that finds a person by personal ID (`guestwork keys new`; never rotate it)."
    )
    retired_data_keys: list[SecretStr] = Field(
        default_factory=list, description="Former data keys, still needed to open values sealed before a rotation (JSON list)."
    )
    key_file: Path = Field(
        default=Path("var/keys.toml"),
        description="Where the keys are read from when GUESTWORK_DATA_KEY and GUESTWORK_LOOKUP_KEY are unset (`guestwork keys init`).",
    )
    frozen_time: datetime | None = Field(
        default=None,
        description="Run as if it were always this moment (demos, training rooms, support); unset in production.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, reading the environment once."""
    return Settings()
