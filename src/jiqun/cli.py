"""``jiqun`` command line: the same services as the web app and the Python API."""

from __future__ import annotations

import typer
from rich.console import Console

from jiqun.config import get_settings
from jiqun.store import Store

app = typer.Typer(help="jiqun 集群 — operations platform for cluster-market parcel carriers.",
                  no_args_is_help=True)
console = Console()


@app.command()
def init() -> None:
    """Create or upgrade the store's tables and the lake folder."""
    settings = get_settings()
    Store.from_settings(settings).upgrade()
    settings.lake_path.mkdir(parents=True, exist_ok=True)
    console.print(f"store ready: [bold]{settings.store_url}[/]; lake: [bold]{settings.lake_path}[/]")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, reload: bool = False) -> None:
    """Serve the web app."""
    import uvicorn

    from jiqun.config import settings_or_exit

    settings_or_exit()  # a bad secret or setting: one line and exit 2, before uvicorn starts
    console.print(f"jiqun web: http://{host}:{port}/")
    uvicorn.run("jiqun.web.app:create_app", host=host, port=port, factory=True, reload=reload)


@app.command()
def permissions(markdown: bool = typer.Option(False, "--markdown",
                                              help="The table of docs/permissions.md.")) -> None:
    """Who may do what: the permission registry (action × role × org level)."""
    from jiqun.permissions import REGISTRY, markdown_table

    if markdown:
        typer.echo(markdown_table(), nl=False)
        return
    from rich.table import Table

    table = Table("action", "what", "roles", "levels")
    for action, rule in REGISTRY.items():
        table.add_row(action.value, rule.description,
                      ", ".join(sorted(r.value for r in rule.roles)),
                      ", ".join(sorted(lv.value for lv in rule.levels)))
    console.print(table)


def _register_subcommands() -> None:
    from jiqun.analytics.cli import app as kpi_app
    from jiqun.analytics.cli import tiers_app
    from jiqun.demo.cli import app as demo_app
    from jiqun.ingest.cli import register as register_import
    from jiqun.users_cli import app as users_app

    app.add_typer(demo_app, name="demo", help="Build the demo province.")
    app.add_typer(users_app, name="users", help="Manage users.")
    register_import(app)
    from jiqun.planning.solve_cli import solve
    app.command("solve")(solve)
    app.add_typer(kpi_app, name="kpi", help="KPIs: volume, share, customers, grids, tiers, rankings.")
    app.add_typer(tiers_app, name="tiers", help="Apply customer tiers and their owners.")
    from jiqun.reports.cli import app as report_app
    app.add_typer(report_app, name="report", help="Daily figures and the weekly bulletin.")
    from jiqun.planning.cli import flows_app, plan_app
    app.add_typer(plan_app, name="plan", help="Plan dedicated lines and consolidation centres.")
    app.add_typer(flows_app, name="flows", help="Flows by origin and destination.")
    from jiqun.sales.cli import app as sales_app
    app.add_typer(sales_app, name="sales", help="Customer development: lifecycle, visits, funnel, pool.")
    from jiqun.sales.plan import register_plan_visits
    register_plan_visits(app)
    from jiqun.planning.grids_cli import register_grids
    register_grids(app)
    from jiqun.markets.cli import register as register_markets
    register_markets(app)


_register_subcommands()


if __name__ == "__main__":
    app()
