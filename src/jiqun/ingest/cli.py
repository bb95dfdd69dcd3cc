"""``jiqun import …`` (placeholder until the importers land)."""

import typer


def register(app: typer.Typer) -> None:
    pass
