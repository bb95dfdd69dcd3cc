"""The command line is mounted from one table, lazily, and only CLI modules know of Typer.

Issue 13: the visit plan service imported typer and walked Typer's ``registered_groups`` to add
itself to ``jiqun plan``, the grid CLI did the same, and ``cli.py``
registered commands four ways, importing every module (pandas, ibis, the solvers) for
``jiqun --help``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from jiqun import cli
from jiqun.cli import COMMANDS, app

SOURCE = Path(cli.__file__).parent


def is_cli_module(path: Path) -> bool:
    """The modules that may speak Typer: ``cli.py``, ``*_cli.py``, ``<package>/cli.py`` and
    the shared ``cli_actor.py``."""
    return path.name.endswith("cli.py") or path.name == "cli_actor.py"


def _imported(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _speaks_cli(module: str) -> bool:
    """typer or click, or one of jiqun's command-line modules."""
    parts = module.split(".")
    if parts[0] in ("typer", "click"):
        return True
    return parts[0] == "jiqun" and any(p.endswith("cli") or p == "cli_actor" for p in parts[1:])


def test_only_cli_modules_import_typer_or_the_cli():
    offenders = [f"{path.relative_to(SOURCE)}:{line} imports {name}"
                 for path in sorted(SOURCE.rglob("*.py")) if not is_cli_module(path)
                 for line, name in _imported(path) if _speaks_cli(name)]
    assert offenders == []


def test_the_scan_sees_an_offender(tmp_path):
    """The scan itself: a service importing typer (as sales/plan.py did) is caught, in both
    import forms, and a service importing the CLI helper too."""
    service = tmp_path / "plan.py"
    service.write_text("import typer\nfrom jiqun.cli_actor import acting\n"
                       "from typer import BadParameter\nimport numpy\n", encoding="utf-8")
    assert [name for _, name in _imported(service) if _speaks_cli(name)] == [
        "typer", "jiqun.cli_actor", "jiqun.cli_actor.acting", "typer", "typer.BadParameter"]
    assert not is_cli_module(service)
    assert is_cli_module(tmp_path / "plan_cli.py") and is_cli_module(tmp_path / "cli.py")


def test_no_module_walks_typers_registered_groups():
    users = [str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py")
             if "registered_groups" in p.read_text(encoding="utf-8")]
    assert users == []


def test_the_table_has_one_entry_per_path_and_every_parent_exists():
    paths = [m.path for m in COMMANDS]
    assert len(paths) == len(set(paths))
    assert all(m.parent in paths for m in COMMANDS if m.parent)
    own = set(_group().commands)  # the root's own commands; the table's load on use
    assert own == {"init", "serve", "permissions"}
    assert not own & {m.name for m in COMMANDS if not m.parent}


@pytest.mark.parametrize("mount", [m for m in COMMANDS if not m.parent], ids=lambda m: m.path)
def test_every_entry_builds_with_its_children(mount):
    command = cli.build(mount)
    assert command.name == mount.name and command.short_help == mount.help
    for child in (m for m in COMMANDS if m.parent == mount.path):
        assert child.name in command.commands


def _group():
    return typer.main.get_command(app)


def _params(command) -> set[str]:
    return {opt for p in command.params for opt in p.opts}


def test_each_capability_has_its_own_command_with_its_options():
    """``plan`` is the network (lines, centres), ``grids`` the grid workflow, ``sales plan`` the
    visit plan: one meaning per word, as PRODUCT.md's table of contents."""
    ctx = typer.Context(_group())
    plan = _group().get_command(ctx, "plan")
    assert set(plan.commands) == {"lines", "hubs"}
    grids = _group().get_command(ctx, "grids")
    assert list(grids.commands) == ["compare", "approve", "activate"]
    assert {"--market", "--k", "--tolerance", "--save-draft", "--save", "--user", "--scope",
            "--format"} <= _params(grids)
    assert {"--draft", "--fingerprint", "--user", "--on"} <= _params(grids.commands["activate"])
    visits = _group().get_command(ctx, "sales").commands["plan"]
    assert _params(visits) == {"--user", "--scope", "--marketer", "--date", "--format"}


def test_help_lists_every_command_without_loading_them():
    """``jiqun --help`` in a fresh interpreter: every table entry listed with its line, and
    none of the command modules nor their heavy libraries imported."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from jiqun.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'], terminal_width=200)\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        "heavy = ('pandas', 'ibis', 'sqlalchemy', 'numpy', 'duckdb', 'jiqun.store',\n"
        "         'jiqun.sales', 'jiqun.network', 'jiqun.kpi', 'jiqun.demo')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "                       or any(m == h or m.startswith(h + '.') for h in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout
    assert out.rstrip().splitlines()[-1] == "LOADED []"
    for mount in (m for m in COMMANDS if not m.parent):
        assert mount.name in out and mount.help in out, mount.path
    for name in ("init", "serve", "permissions"):
        assert name in out


def test_a_typo_suggests_a_command_not_loaded_yet():
    result = CliRunner().invoke(app, ["plna"])
    assert result.exit_code == 2
    assert "Did you mean 'plan'?" in result.output


def test_a_lazy_group_answers_its_help_and_its_usage_errors():
    result = CliRunner().invoke(app, ["sales", "plan", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--marketer" in result.output
    bad = CliRunner().invoke(app, ["sales", "plan", "--date", "31-12-2026", "--user", "x"])
    assert bad.exit_code == 2 and "--date" in bad.output


# The engines and libraries of the figures; a command's help needs none of them (issue 12: a
# sub-command's --help took 5–8 s under load because every service was imported to list it).
ENGINES = ("pandas", "ibis", "numpy", "duckdb", "pyarrow", "scipy", "highspy", "pyspark",
           "openpyxl", "matplotlib", "shapely", "weasyprint", "sklearn", "statsmodels")


@pytest.mark.parametrize("mount", [m for m in COMMANDS if not m.parent], ids=lambda m: m.path)
def test_a_commands_help_loads_no_engine(mount):
    """``jiqun <command> --help`` and the help of each of its sub-commands, in a fresh
    interpreter, import none of the engines: the services load when a command runs."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from jiqun.cli import app\n"
        f"words = {mount.path.split()!r}\n"
        "runner = CliRunner()\n"
        "result = runner.invoke(app, [*words, '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "from jiqun import cli\n"
        "group = cli.build(next(m for m in cli.COMMANDS if m.path == words[0]))\n"
        "for name in getattr(group, 'commands', {}):\n"
        "    sub = runner.invoke(app, [*words, name, '--help'])\n"
        "    assert sub.exit_code == 0, (name, sub.output)\n"
        f"engines = {ENGINES!r}\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & set(engines)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.rstrip().splitlines()[-1] == "LOADED []"
