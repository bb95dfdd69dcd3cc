"""``jiqun`` command line: the same services as the web app and the Python API.

Every command outside this file is mounted from one table, :data:`COMMANDS`: a path (``plan``,
or ``sales plan`` for a command placed inside another module's group), the ``module:attribute``
of a Typer sub-app or of a command function, and the one-line help shown in listings. A
top-level entry's module is imported only when that command runs (or is completed), so
``jiqun --help`` lists the commands without loading pandas, ibis, SQLAlchemy or the solvers;
the entries below a path are mounted when their parent loads. No module registers itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Mount:
    """One command of ``jiqun``: where it lives and how it is listed."""

    path: str  # "kpi", or "sales plan": the command plan inside the group sales
    target: str  # "module:attribute" of a typer.Typer (a group) or of a command function
    help: str  # one line: the listing's text, without importing the module

    @property
    def name(self) -> str:
        return self.path.rsplit(" ", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rpartition(" ")[0]


COMMANDS: tuple[Mount, ...] = (
    Mount("demo", "jiqun.demo.cli:app", "Build the demo province."),
    Mount("users", "jiqun.users_cli:app", "Manage users."),
    Mount("import", "jiqun.ingest.cli:import_command",
          "Import a file of markets, customers, waybills or events (导入)."),
    Mount("kpi", "jiqun.kpi.cli:app",
          "KPIs: volume, share, customers, grids, tiers, rankings."),
    Mount("tiers", "jiqun.kpi.cli:tiers_app",
          "Customer tiers: their issues, and applying tiers and their owners."),
    Mount("report", "jiqun.reports.cli:app", "Daily figures and the weekly bulletin."),
    Mount("plan", "jiqun.network.cli:plan_app",
          "Plan the network: dedicated lines and consolidation centres."),
    Mount("grids", "jiqun.grids.cli:grids_app",
          "Design a market's grids and take a redraw through draft → compare → approve → "
          "activate."),
    Mount("flows", "jiqun.network.cli:flows_app", "Flows by origin and destination."),
    Mount("sales", "jiqun.sales.cli:app",
          "Customer development: lifecycle, visits, funnel, pool."),
    Mount("sales plan", "jiqun.sales.visit_plan_cli:visits",
          "A marketer's daily visit plan (每日走访计划): scored merchants, routed from the outlet."),
    Mount("markets", "jiqun.markets.cli:markets_app",
          "Register markets; TOP-N by potential; targets."),
    Mount("teams", "jiqun.grids.teams_cli:teams_app", "Marketing teams: propose, approve, reject."),
    Mount("price", "jiqun.money.price_cli:app",
          "Prices (一地一价): rate cards, contract prices, the quote of one parcel."),
    Mount("price response", "jiqun.money.advice_cli:response_command",
          "The merchants' price response fitted from the data, and its check."),
    Mount("price advise", "jiqun.money.advice_cli:advise_command",
          "If we change our price for a zone in a market: parcels, share, revenue, margin."),
    Mount("price competitors", "jiqun.money.advice_cli:competitors_command",
          "Our price against each competitor's in a market: the gap and its trend."),
    Mount("price products", "jiqun.money.advice_cli:products_command",
          "Product advice: merchants that should ship express, and what it earns."),
    Mount("finance", "jiqun.money.finance_cli:app",
          "Monthly ledger with loss cover, bonus pools, outlet shares; cost per parcel."),
    Mount("parcel", "jiqun.service.tracking_cli:parcel_command",
          "A parcel's timeline: its state, the cause and who is responsible, its scans."),
    Mount("jobs", "jiqun.service.jobs_cli:app",
          "Scheduled jobs: list them with their last and next run, run one now."),
    Mount("worker", "jiqun.service.jobs_cli:worker",
          "Run the scheduled jobs in the foreground until interrupted."),
    Mount("warehouses", "jiqun.service.warehousing_cli:app",
          "Warehouses (源头仓): the merchants they serve, candidates, assigning."),
    Mount("problems", "jiqun.service.problems_cli:app",
          "Problems raised at city level, escalated until solved (问题有人盯)."),
    Mount("service", "jiqun.service.cli:app",
          "The proactive service queue (主动客服): cases, exceptions, case work."),
)

LISTING = "jiqun.listing"  # ctx.meta flag: the root's help is being written


def _target(mount: Mount):
    module, _, attribute = mount.target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build(mount: Mount, table: tuple[Mount, ...] = COMMANDS) -> TyperCommand | TyperGroup:
    """The click command of ``mount`` with the table's entries below it mounted inside."""
    target = _target(mount)
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=mount.name, short_help=mount.help)
    else:
        holder.command(mount.name, short_help=mount.help)(target)
    command = typer.main.get_group(holder).commands[mount.name]
    for child in table:
        if child.parent == mount.path:
            if not isinstance(command, TyperGroup):
                raise TypeError(f"{mount.path} is a command, not a group: cannot hold "
                                f"{child.path}")
            command.add_command(build(child, table), child.name)
    return command


class Commands(TyperGroup):
    """The root group: its own commands, and the table's top-level entries loaded on use."""

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        self.mounts = {m.name: m for m in COMMANDS if not m.parent}
        self.loaded: dict[str, TyperCommand | TyperGroup] = {}

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*super().list_commands(ctx), *self.mounts]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None or cmd_name not in self.mounts:
            return own
        mount = self.mounts[cmd_name]
        if ctx.meta.get(LISTING) and cmd_name not in self.loaded:
            return TyperCommand(mount.name, help=mount.help, short_help=mount.help)
        if cmd_name not in self.loaded:
            self.loaded[cmd_name] = build(mount)
        return self.loaded[cmd_name]

    def format_help(self, ctx: typer.Context, formatter) -> None:
        ctx.meta[LISTING] = True  # the listing needs names and help lines only
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta.pop(LISTING, None)

    def resolve_command(self, ctx: typer.Context, args: list[str]):
        # Typer suggests from the loaded commands only: a typo of a table entry gets none.
        word = args[0] if args else ""
        if word and not word.startswith("-") and self.get_command(ctx, word) is None:
            matches = get_close_matches(word, self.list_commands(ctx))
            if matches:
                ctx.fail(f"No such command {word!r}. Did you mean "
                         + ", ".join(repr(m) for m in matches) + "?")
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=Commands, no_args_is_help=True,
                  help="jiqun 集群 — operations platform for cluster-market parcel carriers.")


@app.command()
def init() -> None:
    """Create or upgrade the store's tables and the lake folder."""
    from rich.console import Console

    from jiqun.config import get_settings
    from jiqun.store import Store

    settings = get_settings()
    Store.from_settings(settings).upgrade()
    settings.lake_path.mkdir(parents=True, exist_ok=True)
    Console().print(f"store ready: [bold]{settings.store_url}[/]; lake: "
                    f"[bold]{settings.lake_path}[/]")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, reload: bool = False,
          jobs: bool | None = typer.Option(
              None, "--jobs/--no-jobs",
              help="Run the scheduled jobs in this process (default: JIQUN_SERVE_JOBS, on); "
                   "--no-jobs where a `jiqun worker` runs them."),
          warmup: bool | None = typer.Option(
              None, "--warmup/--no-warmup",
              help="Warm every page for recent viewers after a data change (default: "
                   "JIQUN_SERVE_WARMUP, on).")) -> None:
    """Serve the web app (and, by default, run the scheduled jobs and warm the pages)."""
    import os

    import uvicorn

    from jiqun.config import settings_or_exit

    if jobs is not None:  # the app reads its settings from the environment (uvicorn --factory)
        os.environ["JIQUN_SERVE_JOBS"] = "true" if jobs else "false"
    if warmup is not None:
        os.environ["JIQUN_SERVE_WARMUP"] = "true" if warmup else "false"
    settings_or_exit()  # a bad secret or setting: one line and exit 2, before uvicorn starts
    typer.echo(f"jiqun web: http://{host}:{port}/")
    uvicorn.run("jiqun.web.app:create_app", host=host, port=port, factory=True, reload=reload)


@app.command()
def permissions(markdown: bool = typer.Option(False, "--markdown",
                                              help="The table of docs/permissions.md.")) -> None:
    """Who may do what: the permission registry (action × role × org level)."""
    from rich.console import Console
    from rich.table import Table

    from jiqun.permissions import REGISTRY, markdown_table

    if markdown:
        typer.echo(markdown_table(), nl=False)
        return
    table = Table("action", "what", "roles", "levels")
    for action, rule in REGISTRY.items():
        table.add_row(action.value, rule.description,
                      ", ".join(sorted(r.value for r in rule.roles)),
                      ", ".join(sorted(lv.value for lv in rule.levels)))
    Console().print(table)


if __name__ == "__main__":
    app()
