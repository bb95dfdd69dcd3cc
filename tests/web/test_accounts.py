"""Accounts pages and their /api twins: the users of one's subtree, adding, re-roling, disabling,
resetting (admins), one's own password; permissions, scope (404), no privilege escalation."""

from __future__ import annotations

import re

import pytest

from tests.web.accounts_app import small_world
from tests.web.conftest import PASSWORD, bearer, csrf_of, login

NEW = "brand-new-horse"


@pytest.fixture
def small(tmp_path):
    return small_world(tmp_path)


@pytest.fixture
def app(small):
    return small.app()


def _api(small, app, username):
    client = small.client(app)
    return client, bearer(client, username)


def test_the_list_shows_the_subtree_only(small, app):
    client, headers = _api(small, app, "hz-city")
    names = [u["username"] for u in client.get("/api/users", headers=headers).json()["items"]]
    assert names == ["hz-city", "wx-county", "zl-marketer"]
    page = small.signed_in("hz-city", app).get("/users")
    assert page.status_code == 200
    assert "zl-marketer" in page.text and "hgz-city" not in page.text
    assert 'data-testid="user-form"' in page.text


def test_a_marketer_sees_the_list_without_the_forms(small, app):
    browser = small.signed_in("zl-marketer", app)
    page = browser.get("/users")
    assert page.status_code == 200 and 'data-testid="user-form"' not in page.text
    detail = browser.get(f"/users/{small.ids['zl-marketer']}")
    assert 'data-testid="user-edit"' not in detail.text
    assert 'data-testid="user-reset"' not in detail.text


def test_a_user_outside_the_subtree_is_404(small, app):
    client, headers = _api(small, app, "hz-city")
    foreign = small.ids["hgz-city"]
    assert client.get(f"/api/users/{foreign}", headers=headers).status_code == 404
    assert client.patch(f"/api/users/{foreign}", json={"active": False},
                        headers=headers).status_code == 404
    assert small.signed_in("hz-city", app).get(f"/users/{foreign}").status_code == 404
    admin_client, admin = _api(small, app, "hq-admin")
    assert admin_client.get(f"/api/users/{foreign}", headers=admin).status_code == 200


def test_adding_a_user_by_api_and_signing_in_as_them(small, app):
    client, headers = _api(small, app, "hz-city")
    made = client.post("/api/users", headers=headers, json={
        "username": "zl-new", "password": NEW, "org_unit_code": "ZJ-HUZ-WX-ZL",
        "role": "marketer", "display_name": "新营销员"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["role"], body["org_unit"]["code"], body["active"]) == (
        "marketer", "ZJ-HUZ-WX-ZL", True)
    assert login(small.client(app), "zl-new", NEW).status_code == 303


@pytest.mark.parametrize("role", ["admin", "provincial_manager", "hq_business", "supervisor"])
def test_a_city_manager_cannot_create_or_promote_to_a_stronger_role(small, app, role):
    client, headers = _api(small, app, "hz-city")
    made = client.post("/api/users", headers=headers, json={
        "username": "hz-boss", "password": NEW, "org_unit_code": "ZJ-HUZ", "role": role})
    assert made.status_code == 403
    promoted = client.patch(f"/api/users/{small.ids['wx-county']}", json={"role": role},
                            headers=headers)
    assert promoted.status_code == 403
    listed = client.get("/api/users", headers=headers).json()["items"]
    assert "hz-boss" not in {u["username"] for u in listed}
    assert {u["username"]: u["role"] for u in listed}["wx-county"] == "county_manager"


def test_a_manager_cannot_touch_a_stronger_user_in_their_unit(small, app):
    admin_client, admin = _api(small, app, "hq-admin")
    made = admin_client.post("/api/users", headers=admin, json={
        "username": "hz-admin", "password": NEW, "org_unit_code": "ZJ-HUZ", "role": "admin"})
    assert made.status_code == 201
    client, headers = _api(small, app, "hz-city")
    assert client.patch(f"/api/users/{made.json()['id']}", json={"active": False},
                        headers=headers).status_code == 403


def test_refused_and_invalid_writes(small, app):
    client, headers = _api(small, app, "zl-marketer")
    assert client.post("/api/users", headers=headers, json={}).status_code == 403
    assert client.patch(f"/api/users/{small.ids['zl-marketer']}", json={"role": "admin"},
                        headers=headers).status_code == 403
    city_client, city = _api(small, app, "hz-city")
    reset = city_client.post(f"/api/users/{small.ids['zl-marketer']}/password",
                             json={"password": NEW}, headers=city)
    assert reset.status_code == 403  # admins only
    weak = city_client.post("/api/users", headers=city, json={
        "username": "zl-weak", "password": "zl-weak-1", "org_unit_code": "ZJ-HUZ-WX-ZL",
        "role": "marketer"})
    assert weak.status_code == 422
    assert weak.json()["errors"] == {"password": "密码至少需要 10 个字符"}
    taken = city_client.post("/api/users", headers=city, json={
        "username": "zl-marketer", "password": NEW, "org_unit_code": "ZJ-HUZ-WX-ZL",
        "role": "marketer"})
    assert taken.status_code == 422
    for bad in ({"role": "emperor"}, {"version": 2**40}, {"display_name": ""}):
        assert city_client.patch(f"/api/users/{small.ids['zl-marketer']}", json=bad,
                                 headers=city).status_code == 422
    assert city_client.get("/api/users/99999999999999999999", headers=city).status_code == 422
    myself = city_client.patch(f"/api/users/{small.ids['hz-city']}", json={"active": False},
                               headers=city)
    assert myself.status_code == 403


def test_a_stale_version_answers_409_with_both_values(small, app):
    client, headers = _api(small, app, "hz-city")
    uid = small.ids["zl-marketer"]
    seen = client.get(f"/api/users/{uid}", headers=headers).json()["version"]
    first = client.patch(f"/api/users/{uid}", json={"display_name": "甲", "version": seen},
                         headers=headers)
    assert first.status_code == 200 and first.json()["version"] == seen + 1
    second = client.patch(f"/api/users/{uid}", json={"display_name": "乙", "version": seen},
                          headers=headers)
    assert second.status_code == 409
    assert second.json()["mine"] == {"version": seen}
    assert second.json()["theirs"] == {"version": seen + 1}


def _form(browser, path):
    page = browser.get(path)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    return csrf_of(browser, path), int(version.group(1)) if version else None


def test_the_pages_add_edit_disable_and_reset(small, app):
    city = small.signed_in("hz-city", app)
    token, _ = _form(city, "/users")
    added = city.post("/users", data={
        "csrf_token": token, "username": "zl-page", "password": NEW, "display_name": "页面新人",
        "org_unit_code": "ZJ-HUZ-WX-ZL", "role": "courier"}, follow_redirects=False)
    assert added.status_code == 303
    path = added.headers["location"]
    page = city.get(path)
    assert "页面新人" in page.text and "揽投员" in page.text
    refused = city.post("/users", data={
        "csrf_token": token, "username": "zl-weak", "password": "short",
        "org_unit_code": "ZJ-HUZ-WX-ZL", "role": "courier"})
    assert refused.status_code == 422 and "密码至少需要 10 个字符" in refused.text

    token, version = _form(city, path)
    saved = city.post(path, data={"csrf_token": token, "version": version, "role": "marketer",
                                  "display_name": "页面新人"}, follow_redirects=False)
    assert saved.status_code == 303  # "active" unticked: disabled
    assert "已停用" in city.get(path).text
    assert login(small.client(app), "zl-page", NEW).status_code == 401

    admin = small.signed_in("hq-admin", app)
    token, version = _form(admin, path)
    assert 'data-testid="user-reset"' in admin.get(path).text
    stale = admin.post(path + "/password", data={"csrf_token": token, "version": version - 1,
                                                 "password": "reset-horse-42"})
    assert stale.status_code == 409
    reset = admin.post(path + "/password", data={"csrf_token": token, "version": version,
                                                 "password": "reset-horse-42"},
                       follow_redirects=False)
    assert reset.status_code == 303
    assert city.post(path + "/password", data={
        "csrf_token": csrf_of(city, path), "version": version + 1,
        "password": "reset-horse-43"}).status_code == 403


def test_own_password_page_and_api(small, app):
    browser = small.signed_in("zl-marketer", app)
    token = csrf_of(browser, "/account/password")
    wrong = browser.post("/account/password", data={
        "csrf_token": token, "current_password": "not-my-password", "new_password": NEW})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    weak = browser.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": "zl-marketer"})
    assert weak.status_code == 422 and "密码不能与用户名相同" in weak.text
    done = browser.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": NEW})
    assert done.status_code == 200 and 'data-testid="password-changed"' in done.text

    client = small.client(app)
    headers = bearer(client, "zl-marketer", NEW)
    changed = client.post("/api/account/password", headers=headers,
                          json={"current_password": NEW, "new_password": "third-horse-33"})
    assert changed.status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401
    assert login(small.client(app), "zl-marketer", "third-horse-33").status_code == 303


def test_guessing_the_current_password_is_throttled(small, app):
    client = small.client(app)
    headers = bearer(client, "zl-marketer")
    codes = [client.post("/api/account/password", headers=headers,
                         json={"current_password": f"guess-{n}-wrong", "new_password": NEW}
                         ).status_code for n in range(6)]
    assert codes == [422] * 5 + [429]


def test_the_navigation_links_the_users_page(small, app):
    assert 'href="/users"' in small.signed_in("zl-marketer", app).get("/").text


def test_the_user_list_is_paged_and_searchable_within_the_subtree(small, app):
    client, headers = _api(small, app, "hz-city")
    names = ["hz-city", "wx-county", "zl-marketer"]  # hgz-city lies in another city
    first = client.get("/api/users?page_size=2", headers=headers).json()
    second = client.get("/api/users?page_size=2&page=2", headers=headers).json()
    assert (first["total"], first["pages"], second["page"]) == (3, 2, 2)
    assert [u["username"] for u in first["items"] + second["items"]] == names
    found = client.get("/api/users?q=MARKET", headers=headers).json()
    assert [u["username"] for u in found["items"]] == ["zl-marketer"]
    assert client.get("/api/users?q=hgz", headers=headers).json()["total"] == 0
    assert client.get("/api/users?page=0", headers=headers).status_code == 422
    page = small.signed_in("hz-city", app).get("/users?q=marketer")
    assert page.status_code == 200 and "zl-marketer" in page.text
    assert ">hz-city</a>" not in page.text and "共 1 个用户" in page.text
    assert small.signed_in("hz-city", app).get("/users?page=²").status_code == 422
