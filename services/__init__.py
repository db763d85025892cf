"""The guestwork application: persistence, commands, queries, audit, and the ways in (CLI, API)."""
