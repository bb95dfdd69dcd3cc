"""Sign-in, sessions, CSRF and API tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jiqun.web.security import TokenSigner
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


def test_login_is_rate_limited_after_repeated_failures(client):
    for _ in range(5):
        assert login(client, "hz-city", "wrong-password").status_code == 401
    assert login(client, "hz-city").status_code == 429  # even the right password, for now
    assert login(client, "hgz-city").status_code == 303  # another account is not blocked


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
