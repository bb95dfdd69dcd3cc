"""Sign-in, server-side sessions, the store-backed throttle, CSRF, API tokens and the secret."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from jiqun import accounts
from jiqun.config import DEVELOPMENT_SECRET, InsecureSecret, Settings
from jiqun.web.app import create_app
from jiqun.web.security import TokenSigner, client_address
from tests.web.accounts_app import small_world
from tests.web.conftest import PASSWORD, bearer, csrf_of, login, signed_in


def test_login_page_is_chinese_and_carries_a_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "登录" in response.text
    assert len(csrf_of(client)) >= 32


def test_pages_redirect_to_login_and_api_answers_401_without_a_session(client):
    page = client.get("/markets", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/markets"
    api = client.get("/api/markets")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"


def test_login_success_opens_the_dashboard_with_user_and_org_unit(client):
    response = login(client, "hz-city", next="/markets")
    assert response.status_code == 303
    assert response.headers["location"] == "/markets"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "湖州经理" in home.text and "湖州市分公司" in home.text
    assert client.get("/api/me").json()["org_unit"]["code"] == "ZJ-HUZ"


def test_login_never_redirects_off_site(client):
    response = login(client, "hz-city", next="//evil.example/")
    assert response.headers["location"] == "/"


def test_login_failure_shows_an_error_and_keeps_the_user_out(client):
    response = login(client, "hz-city", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert client.get("/api/me").status_code == 401
    assert login(client, "nobody", PASSWORD).status_code == 401


def test_form_posts_without_the_csrf_token_are_refused(app):
    client = TestClient(app)
    csrf_of(client)  # an anonymous session with a token exists, but the form omits it
    refused = client.post("/login", data={"username": "hz-city", "password": PASSWORD})
    assert refused.status_code == 403
    assert client.get("/api/me").status_code == 401

    client = signed_in(app, "hz-city")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.get("/api/me").status_code == 200  # still signed in
    ok = client.post("/logout", data={"csrf_token": csrf_of(client, "/")}, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/api/me").status_code == 401


def test_htmx_header_carries_the_csrf_token(app):
    client = signed_in(app, "hz-city")
    token = csrf_of(client, "/")
    response = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_token_endpoint_and_bearer_access(client):
    headers = bearer(client, "hgz-city")
    me = client.get("/api/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["username"] == "hgz-city"
    assert "password_hash" not in me.text
    assert [m["code"] for m in client.get("/api/markets", headers=headers).json()["items"]] \
        == ["M-XH"]
    # A bearer call carries no ambient authority, so it needs no CSRF token.
    assert client.post("/logout", headers=headers, follow_redirects=False).status_code == 303


def test_token_endpoint_refuses_wrong_passwords_and_forged_tokens(client):
    response = client.post("/api/token", data={"username": "hgz-city", "password": "nope-nope"})
    assert response.status_code == 401
    token = bearer(client, "hgz-city")["Authorization"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get("/api/me", headers={"Authorization": forged}).status_code == 401


def test_tokens_expire():
    signer = TokenSigner("k", ttl_seconds=-1)
    assert signer.user_id(signer.issue(7)) is None
    assert TokenSigner("k", 60).user_id(TokenSigner("k", 60).issue(7)) == 7
    assert TokenSigner("other", 60).user_id(TokenSigner("k", 60).issue(7)) is None


def test_a_token_carries_the_auth_epoch():
    signer = TokenSigner("k", 60)
    assert signer.claim(signer.issue(7, 3)) == (7, 3)
    legacy = signer._serializer.dumps({"uid": 7})  # a token from before epochs: refused
    assert signer.claim(legacy) is None
    assert signer.claim(signer._serializer.dumps({"uid": True, "ep": 0})) is None


# -- sessions end on the server -----------------------------------------------------------------
def test_a_cookie_saved_before_logout_is_refused_after_it(tmp_path):
    """Reproduction: logout did not end the session; a saved cookie still got 200 on /api/me."""
    small = small_world(tmp_path)
    app = small.app()
    client = small.signed_in("hz-city", app)
    saved = dict(client.cookies)
    assert client.get("/api/me").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_of(client, "/")},
                      follow_redirects=False)
    assert out.status_code == 303

    replay = TestClient(app, cookies=saved)
    assert replay.get("/api/me").status_code == 401
    page = replay.get("/markets", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/markets"


def test_signing_in_again_replaces_the_old_session(tmp_path):
    small = small_world(tmp_path)
    app = small.app()
    client = small.signed_in("hz-city", app)
    before = dict(client.cookies)
    assert login(client, "hz-city").status_code == 303
    assert TestClient(app, cookies=before).get("/api/me").status_code == 401
    assert client.get("/api/me").status_code == 200


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(tmp_path):
    small = small_world(tmp_path)
    app = small.app()
    browser = small.signed_in("zl-marketer", app)
    token = bearer(small.client(app), "zl-marketer")
    assert browser.get("/api/me").status_code == 200
    assert small.client(app).get("/api/me", headers=token).status_code == 200

    manager = bearer(small.client(app), "hz-city")
    off = small.client(app).patch(f"/api/users/{small.ids['zl-marketer']}",
                                  json={"active": False}, headers=manager)
    assert off.status_code == 200 and off.json()["active"] is False
    assert browser.get("/api/me").status_code == 401
    assert small.client(app).get("/api/me", headers=token).status_code == 401
    assert login(small.client(app), "zl-marketer").status_code == 401

    on = small.client(app).patch(f"/api/users/{small.ids['zl-marketer']}",
                                 json={"active": True}, headers=manager)
    assert on.status_code == 200
    assert small.client(app).get("/api/me", headers=token).status_code == 401, \
        "enabling again does not revive the old token"
    assert login(small.client(app), "zl-marketer").status_code == 303


def test_a_password_reset_ends_the_users_sessions_and_tokens(tmp_path):
    small = small_world(tmp_path)
    app = small.app()
    browser = small.signed_in("zl-marketer", app)
    token = bearer(small.client(app), "zl-marketer")
    admin = bearer(small.client(app), "hq-admin")
    reset = small.client(app).post(f"/api/users/{small.ids['zl-marketer']}/password",
                                   json={"password": "brand-new-horse"}, headers=admin)
    assert reset.status_code == 204
    assert browser.get("/api/me").status_code == 401
    assert small.client(app).get("/api/me", headers=token).status_code == 401
    assert login(small.client(app), "zl-marketer").status_code == 401
    assert login(small.client(app), "zl-marketer", "brand-new-horse").status_code == 303


def test_changing_ones_own_password_keeps_this_browser_and_ends_the_others(tmp_path):
    small = small_world(tmp_path)
    app = small.app()
    here = small.signed_in("zl-marketer", app)
    elsewhere = small.signed_in("zl-marketer", app)
    token = bearer(small.client(app), "zl-marketer")
    changed = here.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "brand-new-horse",
        "csrf_token": csrf_of(here, "/account/password")}, follow_redirects=False)
    assert changed.status_code == 303
    assert here.get("/api/me").status_code == 200
    assert elsewhere.get("/api/me").status_code == 401
    assert small.client(app).get("/api/me", headers=token).status_code == 401


# -- the throttle -------------------------------------------------------------------------------
def test_login_is_rate_limited_after_repeated_failures(tmp_path):
    small = small_world(tmp_path)
    client = small.client()
    for _ in range(5):
        assert login(client, "hz-city", "wrong-password").status_code == 401
    assert login(client, "hz-city").status_code == 429  # even the right password, for now
    assert login(client, "hgz-city").status_code == 303  # another account is not blocked


def test_two_server_processes_share_the_count_and_a_restart_keeps_it(tmp_path):
    small = small_world(tmp_path)
    first, second = small.client(), small.client()
    for client in (first, second, first, second, first):
        assert login(client, "hz-city", "wrong-password").status_code == 401
    assert login(second, "hz-city").status_code == 429
    restarted = small.client()  # a new app on the same store: a restart
    assert login(restarted, "hz-city").status_code == 429


def test_of_100_parallel_wrong_guesses_at_most_the_limit_are_evaluated(tmp_path, monkeypatch):
    """Reproduction: 43 of 100 parallel wrong guesses were evaluated by a per-process count."""
    small = small_world(tmp_path)
    app = small.app()
    checked, lock = [], threading.Lock()
    real = accounts.verify_password

    def counting(user, password):
        with lock:
            checked.append(password)
        return real(user, password)

    monkeypatch.setattr(accounts, "verify_password", counting)
    client = TestClient(app)

    def guess(n: int) -> int:
        return client.post("/api/token", data={"username": "hz-city",
                                               "password": f"wrong-guess-{n}"}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(guess, range(100)))
    assert len(checked) == 5
    assert sorted(codes) == [401] * 5 + [429] * 95


def test_a_rotating_forwarded_for_from_an_untrusted_client_changes_nothing(tmp_path):
    """Reproduction: a new X-Forwarded-For on every guess had every guess evaluated."""
    small = small_world(tmp_path)
    client = small.client()
    codes = [client.post("/api/token", data={"username": "hz-city", "password": "wrong-pw"},
                         headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
             for n in range(7)]
    assert codes == [401] * 5 + [429] * 2


def test_a_trusted_proxy_passes_on_the_clients_address(tmp_path):
    small = small_world(tmp_path)
    app = small.app(trusted_proxies=["10.0.0.0/8"])
    proxy = TestClient(app, client=("10.0.0.7", 4000))

    def guess(forwarded: str) -> int:
        return proxy.post("/api/token", data={"username": "hz-city", "password": "wrong-pw"},
                          headers={"X-Forwarded-For": forwarded}).status_code

    # The client may write anything on the left; the proxy appends the address it saw.
    assert [guess(f"192.0.2.{n}, 203.0.113.5") for n in range(6)] == [401] * 5 + [429]
    assert guess("203.0.113.6") == 401  # another client behind the same proxy


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.5", "1.2.3.4", "203.0.113.5"),             # untrusted peer: header ignored
    ("10.0.0.7", "1.2.3.4", "1.2.3.4"),
    ("10.0.0.7", "1.2.3.4, 5.6.7.8", "5.6.7.8"),
    ("10.0.0.7", "1.2.3.4, 5.6.7.8, 10.0.0.9", "5.6.7.8"),  # a chain of trusted proxies
    ("10.0.0.7", "", "10.0.0.7"),
    ("10.0.0.7", "not-an-ip", "not-an-ip"),
])
def test_client_address(peer, forwarded, expected):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "client": (peer, 1), "headers": headers})
    proxies = Settings(trusted_proxies="10.0.0.0/8").trusted_networks
    assert client_address(request, proxies) == expected


def test_trusted_proxies_are_read_from_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("JIQUN_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]
    assert Settings(_env_file=None).trusted_networks[1].num_addresses == 1


# -- the secret ---------------------------------------------------------------------------------
def test_a_token_signed_with_the_empty_key_is_never_accepted(client):
    """Reproduction: in production with an empty key, a token signed with "" was demo-hq."""
    from itsdangerous import URLSafeTimedSerializer

    from jiqun.web.security import TOKEN_SALT

    forged = URLSafeTimedSerializer("", salt=TOKEN_SALT).dumps({"uid": 1, "ep": 0})
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code \
        == 401
    with pytest.raises(ValueError):
        TokenSigner("", 60)


@pytest.mark.parametrize("key", ["", "short-secret", DEVELOPMENT_SECRET])
def test_production_refuses_an_empty_short_or_default_secret(key, tmp_path):
    good = Settings(environment="test", secret_key="k" * 8, store_url=f"sqlite:///{tmp_path}/s.db")
    unfit = good.model_copy(update={"environment": "production", "secret_key": key})
    with pytest.raises(InsecureSecret, match="JIQUN_SECRET_KEY"):
        create_app(unfit)
    with pytest.raises(ValueError, match="JIQUN_SECRET_KEY"):
        Settings(environment="production", secret_key=key)


def test_an_empty_secret_is_refused_in_every_environment():
    with pytest.raises(ValueError, match="empty"):
        Settings(environment="development", secret_key="")


def test_serve_with_an_empty_production_secret_prints_one_line_and_fails(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "JIQUN_ENVIRONMENT": "production", "JIQUN_SECRET_KEY": "",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "jiqun.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == ["jiqun: JIQUN_SECRET_KEY is empty: set a random secret of at least 32 "
                     "bytes"], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
