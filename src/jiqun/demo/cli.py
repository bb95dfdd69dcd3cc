"""``jiqun demo …`` (placeholder until the generator lands)."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(scale: str = "small", seed: int = 7) -> None:
    """Build the demo province."""
    raise typer.Exit(1)
