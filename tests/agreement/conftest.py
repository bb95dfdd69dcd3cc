"""The demo province built the way a user builds it (``jiqun demo build``), served to the
agreement tests through the app (pages and ``/api``) and the CLI, all on the same files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import Settings, get_settings
from jiqun.web.app import create_app
from tests.web.conftest import login

PASSWORD = "jiqun-demo"


@dataclass
class Province:
    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {"JIQUN_STORE_URL": f"sqlite:///{self.root}/store.db",
                "JIQUN_LAKE_PATH": str(self.root / "lake"),
                "JIQUN_RULES_FILE": str(self.root / "rules.toml"),
                "JIQUN_PLANNING_FILE": str(self.root / "planning.toml"),
                "JIQUN_LOCALE": "zh-CN"}

    def settings(self) -> Settings:
        env = self.env
        return Settings(store_url=env["JIQUN_STORE_URL"], lake_path=Path(env["JIQUN_LAKE_PATH"]),
                        rules_file=Path(env["JIQUN_RULES_FILE"]),
                        planning_file=Path(env["JIQUN_PLANNING_FILE"]), environment="test")


def _invoke(province: Province, args: list[str]):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in province.env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli_app, args)
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="package")
def province(tmp_path_factory) -> Province:
    built = Province(tmp_path_factory.mktemp("agreement-demo"))
    result = _invoke(built, ["demo", "build", "--scale", "tiny", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return built


@pytest.fixture(scope="package")
def web(province) -> Iterator[TestClient]:
    with TestClient(create_app(province.settings())) as client:
        yield client


class Sessions:
    """One signed-in browser session and one bearer token per demo user."""

    def __init__(self, client: TestClient):
        self.client = client
        self._pages: dict[str, TestClient] = {}
        self._tokens: dict[str, dict[str, str]] = {}

    def api(self, user: str, path: str):
        if user not in self._tokens:
            r = self.client.post("/api/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = self.client.get(path, headers=self._tokens[user])
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()

    def page(self, user: str, path: str) -> str:
        if user not in self._pages:
            c = TestClient(self.client.app)
            c.__enter__()
            r = login(c, user, PASSWORD)
            assert r.status_code in (302, 303), r.text[:300]
            self._pages[user] = c
        r = self._pages[user].get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.text

    def csv(self, user: str, path: str) -> list[list[str]]:
        """The page's CSV download (``?format=csv``) as rows, header first."""
        import csv
        import io

        self.page(user, "/")  # signs in
        r = self._pages[user].get(path + ("&" if "?" in path else "?") + "format=csv")
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert r.content.startswith(b"\xef\xbb\xbf"), "CSV without a BOM"
        return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))

    def close(self) -> None:
        for c in self._pages.values():
            c.__exit__(None, None, None)


@pytest.fixture(scope="package")
def sessions(web) -> Iterator[Sessions]:
    s = Sessions(web)
    yield s
    s.close()


@pytest.fixture(scope="package")
def cli(province):
    def run(args: list[str]):
        result = _invoke(province, args)
        assert result.exit_code == 0, (args, result.output[-800:])
        return result.stdout
    return run
