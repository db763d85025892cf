"""The `guestwork keys` commands: make the keys that seal personal data at rest."""

from __future__ import annotations

import typer

from config.settings import get_settings
from services.crypto import new_key, write_key_file

keys_app = typer.Typer(help="The keys that seal personal IDs and health data at rest.", no_args_is_help=True)


@keys_app.command("init")
def keys_init() -> None:
    """Create the key file (GUESTWORK_KEY_FILE, var/keys.toml) with fresh keys, unless it exists."""
    settings = get_settings()
    if settings.data_key or settings.lookup_key:
        typer.echo("✓ keys come from GUESTWORK_DATA_KEY / GUESTWORK_LOOKUP_KEY: no key file needed")
    elif write_key_file(settings.key_file):
        typer.echo(f"✓ created {settings.key_file} (owner-only); back it up apart from the database")
    else:
        typer.echo(f"✓ {settings.key_file} exists: kept as it is")


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh random key (for GUESTWORK_DATA_KEY or GUESTWORK_LOOKUP_KEY in production)."""
    typer.echo(new_key())
