"""No untranslated string, in either language (docs/translations.md).

The UI speaks Chinese by default and English on request; msgids are English and the Chinese lives
in the gettext catalogs ``src/jiqun/locale/zh_CN/*.po``, merged into one by ``jiqun.i18n``.

* The catalogs themselves: no empty or fuzzy entry, the same placeholders on both sides, no msgid
  translated two ways (in one file or across files).
* Every msgid the code uses — ``_("…")`` in the templates (Babel's Jinja2 extractor), ``t("…")``
  and the shared refusals (``jiqun.errors``) in Python (an AST scan: Babel's Python extractor
  mistakes Ibis' ``t["col"]`` for a call), and the tables of labels the pages translate — has a
  Chinese translation, and is English.
* Templates: no Chinese in any branch, no English text outside ``_()``.
* Rendered pages: every GET page of the app (its own route table, as the matrix tests read it),
  as one user of every role of the matrix world (``tests/web/matrix.py``). In English no Chinese
  is left once the data (every string of the store, every place name) is taken out; in Chinese
  no text is an English msgid shown as it is, unless the msgid is the same in both languages
  (:data:`SAME_IN_BOTH`).
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from importlib import import_module
from importlib.resources import files
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import PoFileParser
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.geo.divisions import all_divisions, short_name
from jiqun.i18n import _catalog
from jiqun.store.models import Base, Role
from jiqun.web.app import LANG_COOKIE, create_app
from tests.web.conftest import login
from tests.web.matrix import ROLE_USERS, build_matrix_world, fill, routes

SRC = Path(__file__).resolve().parents[1] / "src" / "jiqun"
CATALOGS = files("jiqun").joinpath("locale", "zh_CN")
HOW_TO = "see docs/translations.md"

# msgids a Chinese page may show as they are (initialisms a Chinese reader uses in English): only
# these may have msgstr == msgid, or appear untranslated on a Chinese page.
SAME_IN_BOTH = frozenset({"KPI", "TOP-N", "CSV", "XLSX", "VIP", "ID", "API"})

# Tables of msgids that the pages translate by key (``_(labels.STAGES[c])``). A module-level dict
# named ``…LABELS``, ``…MESSAGES``, ``…REASONS`` or ``…NAMES`` is found in the source; a table of
# another name is listed here (``module:attribute``; a dict gives its values).
MSGID_TABLES = (
    "jiqun.web.labels:MARKET_TYPES", "jiqun.web.labels:STAGES", "jiqun.web.labels:TIERS",
    "jiqun.web.labels:LEVELS", "jiqun.web.labels:ROLES", "jiqun.web.labels:PLATFORMS",
    "jiqun.web.labels:VISIT_METHODS", "jiqun.web.labels:VISIT_OUTCOMES",
)
TABLE_NAME = re.compile(r"(LABELS|MESSAGES|REASONS|NAMES)$")

# Calls that translate their argument: name → the position of the msgid; and the refusals a page
# or the CLI translates (first argument; their subclasses are found in the source).
TRANSLATING_CALLS = {"t": 0, "_": 0, "gettext": 0, "not_found": 1,
                     "Column": 1}  # a downloaded column's header (web.tables.Column)
REFUSALS = {"Invalid", "NotAllowed", "Conflict"}

HAN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{2}")  # a msgid of English words (not "618")
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}|%\((\w+)\)[a-z]")


# -- the catalogs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    file: str
    line: int
    msgid: str
    msgstr: str
    fuzzy: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line} msgid {self.msgid!r}"


class _Recording(Catalog):
    """A Babel catalog that also keeps every entry as read (Babel merges a repeated msgid)."""

    def __init__(self, file: str):
        super().__init__(locale="zh_CN")
        self.file, self.entries = file, []

    def __setitem__(self, id, message):
        if id:
            self.entries.append(Entry(self.file, message.lineno or 0, str(id),
                                      str(message.string or ""), message.fuzzy))
        super().__setitem__(id, message)


def catalog_entries() -> list[Entry]:
    entries = []
    for po in sorted(p for p in CATALOGS.iterdir() if p.name.endswith(".po")):
        catalog = _Recording(f"src/jiqun/locale/zh_CN/{po.name}")
        with po.open("rb") as fh:
            PoFileParser(catalog, ignore_obsolete=True).parse(fh)
        entries.extend(catalog.entries)
    return entries


def placeholders(text: str) -> list[str]:
    return sorted(a or b for a, b in PLACEHOLDER.findall(text))


def entry_problems(entries: list[Entry]) -> list[str]:
    problems = []
    for e in entries:
        if not e.msgstr.strip():
            problems.append(f"{e}: empty msgstr — write the Chinese")
        elif e.fuzzy:
            problems.append(f"{e}: marked fuzzy — check the Chinese and drop '#, fuzzy'")
        elif placeholders(e.msgid) != placeholders(e.msgstr):
            problems.append(f"{e}: placeholders {placeholders(e.msgid)} in the msgid but "
                            f"{placeholders(e.msgstr)} in {e.msgstr!r} — use the same names")
        elif e.msgstr == e.msgid and WORD.search(e.msgid) and e.msgid not in SAME_IN_BOTH:
            problems.append(f"{e}: the msgstr is the English msgid — translate it (or, for an "
                            "initialism, add it to SAME_IN_BOTH in tests/test_catalogs.py)")
    return problems


def clashes(entries: list[Entry]) -> list[str]:
    by_id: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_id[e.msgid].append(e)
    return [f"msgid {msgid!r}: " + "; ".join(f"{e.file}:{e.line} {e.msgstr!r}" for e in es)
            for msgid, es in sorted(by_id.items()) if len({e.msgstr for e in es}) > 1]


def test_catalog_entries_are_translated_not_fuzzy_and_keep_their_placeholders():
    problems = entry_problems(catalog_entries())
    assert not problems, f"{len(problems)} catalog entries to fix ({HOW_TO}):\n" + \
        "\n".join(problems)


def test_no_msgid_is_translated_two_ways():
    """The catalogs merge into one: a msgid translated differently in two places would depend
    on the order the files are read in."""
    found = clashes(catalog_entries())
    assert not found, ("msgids translated two ways — keep one entry (in the catalog of the "
                       f"area that owns the string), delete the others ({HOW_TO}):\n"
                       + "\n".join(found))


def test_the_catalog_checks_catch_each_kind_of_problem():
    """The two checks above on a made-up catalog, since the real one passes them."""
    def entry(msgid, msgstr, fuzzy=False, file="a.po", line=1):
        return Entry(file, line, msgid, msgstr, fuzzy)

    problems = entry_problems([
        entry("Empty", ""), entry("Fuzzy", "模糊", fuzzy=True),
        entry("Rejected {n} rows", "拒绝 {count} 行"), entry("Campaigns", "Campaigns"),
        entry("KPI", "KPI"), entry("618", "618"), entry("{n} rows at %(x)s", "%(x)s 的 {n} 行"),
    ])
    assert [p.split(": ", 1)[0] for p in problems] == [
        "a.po:1 msgid 'Empty'", "a.po:1 msgid 'Fuzzy'", "a.po:1 msgid 'Rejected {n} rows'",
        "a.po:1 msgid 'Campaigns'"]
    assert clashes([entry("Pool", "公海"), entry("Pool", "公海", file="b.po"),
                    entry("Pool", "池", file="b.po", line=9)]) == [
        "msgid 'Pool': a.po:1 '公海'; b.po:1 '公海'; b.po:9 '池'"]


# -- msgids the code uses -----------------------------------------------------------------------
def template_msgids() -> dict[str, str]:
    """msgid → where it is first used, for ``_("…")`` in every template of the package."""
    found: dict[str, str] = {}
    method_map = [("**/templates/**.html", "jinja2")]
    for file, line, message, _comments, _context in extract_from_dir(
            str(SRC), method_map=method_map, keywords={"_": None},
            options_map={"**/templates/**.html": {}}):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, f"src/jiqun/{file}:{line}")
    return found


def _refusal_classes(trees: dict[str, ast.Module]) -> set[str]:
    """The shared refusals and every class of the source derived from one of them."""
    names, grew = set(REFUSALS), True
    classes = [node for tree in trees.values() for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)]
    while grew:
        grew = False
        for node in classes:
            bases = {getattr(b, "id", getattr(b, "attr", None)) for b in node.bases}
            if node.name not in names and bases & names:
                names.add(node.name)
                grew = True
    return names


def _strings(node: ast.AST) -> list[str]:
    """A msgid argument: a string, or the string values of a dict (``Invalid({field: msgid})``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Dict):
        return [v.value for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _named_tables(path: str, tree: ast.Module) -> dict[str, str]:
    """The string values of a module's ``…LABELS = {…}`` dicts (names of the module's own
    string constants resolved)."""
    constants, found = {}, {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or value is None:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            constants[target.id] = value.value
        elif isinstance(value, ast.Dict) and TABLE_NAME.search(target.id):
            for item in value.values:
                msgid = constants.get(item.id) if isinstance(item, ast.Name) else \
                    (_strings(item) or [None])[0]
                if msgid:
                    found.setdefault(msgid, f"src/jiqun/{path}:{item.lineno} ({target.id})")
    return found


def python_msgids() -> dict[str, str]:
    trees = {str(p.relative_to(SRC)): ast.parse(p.read_text(encoding="utf-8"))
             for p in sorted(SRC.rglob("*.py"))}
    refusals = _refusal_classes(trees)
    found: dict[str, str] = {}
    for path, tree in trees.items():
        found |= {m: w for m, w in _named_tables(path, tree).items() if m not in found}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            if isinstance(node.func, ast.Call):  # translator(locale)("…")
                name = getattr(node.func.func, "id", None) == "translator" and "t"
            else:
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "Column" and not str(path).startswith("web/"):
                continue  # reports.xlsx.Column takes a header translated already
            position = TRANSLATING_CALLS.get(name, 0 if name in refusals else None)
            if position is not None and position < len(node.args):
                for msgid in _strings(node.args[position]):
                    if msgid:
                        found.setdefault(msgid, f"src/jiqun/{path}:{node.lineno}")
    return found


def table_msgids() -> dict[str, str]:
    from jiqun.permissions import REGISTRY
    from jiqun.web.nav import NAV

    found: dict[str, str] = {}
    for spec in MSGID_TABLES:
        module, attribute = spec.split(":")
        table = getattr(import_module(module), attribute)
        for msgid in (table.values() if isinstance(table, dict) else table):
            found.setdefault(msgid, spec)
    for group in NAV:
        found.setdefault(group.label, "jiqun.web.nav:NAV")
        for item in group.items:
            found.setdefault(item.label, "jiqun.web.nav:NAV")
    for action, rule in REGISTRY.items():
        found.setdefault(rule.description, f"jiqun.permissions:REGISTRY[{action.value}]")
    return found


@cache  # the scans read every source file and template: once per run
def used_msgids() -> dict[str, str]:
    return {**table_msgids(), **python_msgids(), **template_msgids()}


def test_every_msgid_the_code_uses_has_a_chinese_translation():
    merged = _catalog("zh-CN")
    missing = sorted((where, msgid) for msgid, where in used_msgids().items()
                     if msgid not in merged)
    assert not missing, (
        f"{len(missing)} msgids have no Chinese: add msgid/msgstr to the catalog of your area "
        f"in src/jiqun/locale/zh_CN/ ({HOW_TO}):\n"
        + "\n".join(f"{where}: {msgid!r}" for where, msgid in missing))


ACCEPTED_VALUES = re.compile(r"\([^()]*/[^()]*\)")  # "(是/否)": the values a file may hold


def test_msgids_are_english():
    """English pages show the msgid itself: a Chinese term beside the English belongs in a
    comment or docstring. A list of the values an import accepts, ``(是/否)``, is data."""
    chinese = sorted((where, msgid) for msgid, where in used_msgids().items()
                     if HAN.search(ACCEPTED_VALUES.sub("", msgid)))
    assert not chinese, (
        "msgids with Chinese in them (English pages would show it): write the msgid in English "
        f"only, its Chinese in the catalog, and the Chinese term in a comment ({HOW_TO}):\n"
        + "\n".join(f"{where}: {msgid!r}" for where, msgid in chinese))


JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
# English text a template may hold outside _(): (template, text) → why.
TEMPLATE_ENGLISH = {("web/templates/base.html", "English"): "the language switch names English "
                    "in English"}
# Chinese a template may hold: (template, text) → why. An entry that is no longer there fails.
TEMPLATE_CHINESE = {
    ("web/templates/base.html", "中文"): "the language switch names Chinese in Chinese",
}


def test_templates_hold_no_chinese():
    """Every branch of a template, also those the page walk below does not reach (a form's
    error state): Chinese belongs in the catalogs, names in the data."""
    found, allowed = [], set()
    for template in sorted(SRC.rglob("templates/*.html")):
        name = str(template.relative_to(SRC))
        source = JINJA_COMMENT.sub(lambda m: "\n" * m.group().count("\n"),
                                   template.read_text(encoding="utf-8"))
        for number, line in enumerate(source.splitlines(), 1):
            for text in re.findall(f"{HAN.pattern}+", line):
                if (name, text) in TEMPLATE_CHINESE:
                    allowed.add((name, text))
                else:
                    found.append(f"src/jiqun/{name}:{number}: {text!r} in {line.strip()[:100]}")
    found += [f"{key}: no longer in the template — remove it from TEMPLATE_CHINESE"
              for key in TEMPLATE_CHINESE.keys() - allowed]
    assert not found, (f"Chinese in templates: write it in English inside _(…) and put the "
                       f"Chinese in a catalog ({HOW_TO}):\n" + "\n".join(found))


def test_templates_hold_no_english_text_outside_translation():
    """The text of every branch of a template (Jinja's lexer: what is not an expression or a
    statement) holds no English words: Chinese pages would show them as they are."""
    lexer = jinja2.Environment()
    found = []
    for template in sorted(SRC.rglob("templates/*.html")):
        name = str(template.relative_to(SRC))
        literal = " ".join(value if kind == "data" else " "
                           for _line, kind, value in lexer.lex(template.read_text("utf-8")))
        found += [f"src/jiqun/{name}: {text!r}" for text in visible_text(literal)
                  if _english_words(text) and (name, text) not in TEMPLATE_ENGLISH]
    assert not found, ("English text in templates outside _(…): wrap it, {{ _(\"…\") }}, and "
                       f"give it a msgstr ({HOW_TO}):\n" + "\n".join(found))


def test_the_scan_finds_msgids_of_every_kind():
    """The scans above would pass on nothing: each kind of use is seen at least once."""
    used = used_msgids()
    assert used["Campaigns"]  # a template
    assert "Your role may not do this: {action}" in used  # NotAllowed(…)
    assert "Someone else changed this record meanwhile; reload it and try again" in used  # t()
    assert "Outside your part of the organisation" in used  # translator(locale)("…")
    assert "Team not found" in used  # not_found(ctx, "…")
    assert "Door-to-door sweep" in used  # labels.VISIT_METHODS
    assert "Key-city targets" in used  # nav.NAV


# -- rendered pages -----------------------------------------------------------------------------
SKIPPED_TAGS = {"script", "style", "code", "kbd", "samp"}  # code: commands, identifiers
SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "source", "track", "wbr"}


def _is_language_switch(tag: str, attrs: dict) -> bool:
    """``<a href="…?lang=zh-CN" lang="zh-CN">中文</a>``: a language's name in that language.
    (Any other element marked ``lang`` is checked: a Chinese subtitle is Chinese all the same.)"""
    return tag == "a" and "lang" in attrs and "lang=" in (attrs.get("href") or "")


class _Text(HTMLParser):
    """The text a reader sees: text nodes, shown attributes and button values, and the strings
    of charts' JSON; not scripts, styles and code, nor the language switch, nor an element
    marked ``translate="no"`` (HTML's own mark for text that stays as it is: an importer's
    accepted Chinese column names)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._stack: list[bool] = []  # per open element: is its text hidden from the check

    def _hidden(self) -> bool:
        return any(self._stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        hidden = (tag in SKIPPED_TAGS or attrs.get("translate") == "no"
                  or _is_language_switch(tag, attrs))
        if not (hidden or self._hidden()):
            for name, value in attrs.items():
                if not value:
                    continue
                if name in SHOWN_ATTRIBUTES or (name == "value" and attrs.get("type") in
                                                ("submit", "button", "reset")):
                    self.chunks.append(value)
                elif name.startswith("data-") and value[:1] in "{[":
                    self.chunks.extend(_json_strings(value))
        if tag not in VOID_TAGS:
            self._stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if not self._hidden() and data.strip():
            self.chunks.append(data)


def _json_strings(value: str) -> list[str]:
    try:
        doc = json.loads(value)
    except ValueError:
        return []
    out, todo = [], [doc]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return out


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [" ".join(c.split()) for c in parser.chunks]


def test_visible_text_is_what_a_reader_sees():
    html = ('<html lang="en"><title>T</title><body><a href="/?lang=zh-CN" lang="zh-CN">中文</a>'
            '<span lang="zh-CN">公海</span><br>'
            '<td translate="no">城市</td><script>x = "中"</script><input type="submit" value="Save">'
            '<input name="q" value="typed"><input placeholder="Search"><p>Hello <b>world</b></p>'
            '<div data-chart=\'{"series": [{"name": "件量"}]}\'></div><code>jiqun kpi</code>'
            '</body></html>')
    assert visible_text(html) == ["T", "公海", "Save", "Search", "Hello", "world", "件量"]


def _values(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _values(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _values(v)]
    return []


def data_strings(store) -> set[str]:
    """What is data, not UI: every string stored (names of markets, customers, people, org
    units, places, …), every division's name, full and short, and the import files' format
    (the headers a column accepts, Chinese ones too, and its example value: ``/import``)."""
    from jiqun.ingest.kinds import IMPORT_KINDS

    found: set[str] = {value for kind in IMPORT_KINDS.values() for c in kind.format.columns
                       for value in (*c.headers, c.example) if value}
    with store.session() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                for value in row:
                    found.update(v for v in _values(value) if v.strip())
    for division in all_divisions().values():
        found.update({division.name, short_name(division.name)})
    return found


# Query strings that show a page's messages (a saved form, a finished action); walked as the
# administrator.
VARIANTS = {
    "/users/{user_id}": ("done=saved", "done=reset"),
    "/account/password": ("done=1",),
    "/archive/review": ("done=merged", "done=kept", "status=merged", "status=kept"),
    "/teams/{team_id}": ("error=reason",),
    "/campaigns/{campaign_id}": ("saved=1&missing=1",),
    "/inbox": ("unread=true",),
    "/visits": ("saved=1",),
    "/pool": ("claimed=1",),
}
# The roles of the demo logins (docs/demo.md) and the administrator, who may do everything and so
# is shown every form and button; the other roles see subsets of the same templates.
WALKERS = (Role.ADMIN, Role.HQ_BUSINESS, Role.PROVINCIAL_MANAGER, Role.CITY_MANAGER,
           Role.MARKETER)
# Reports, one template whatever the role: walked as the administrator only (a quarter of the
# walk's time otherwise).
REPORTS = {"/bulletin/{week}.{fmt}"}
LANGUAGES = ("en", "zh-CN")


@dataclass(repr=False)  # a failing test's report shows the findings, not every page
class Pages:
    """Every text of every GET page, per language: text → the (user, path) pairs showing it."""

    shown: dict[str, defaultdict[str, list[tuple[str, str]]]]
    data: re.Pattern

    def texts(self, lang: str):
        return self.shown[lang].items()


def _paths(app, world) -> tuple[list[str], list[str]]:
    """Every GET page, its path filled with records the Huzhou users see; and the pages walked
    as the administrator only (variants, reports)."""
    values = {"week": "2024-W23", "fmt": "html"}
    pages, once = [], []
    for route in routes(app):
        if route.method != "GET" or route.api:
            continue
        path = fill(route.path, values | {
            name: world.own[name.removesuffix("_id")] for name in route.path_params
            if name.removesuffix("_id") in world.own})
        (once if route.path in REPORTS else pages).append(path)
        once += [f"{path}?{query}" for query in VARIANTS.get(route.path, ())]
    return pages, once


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Pages:
    world = build_matrix_world(tmp_path_factory.mktemp("catalogs"))
    app = create_app(world.settings)
    paths, once = _paths(app, world)
    shown: dict[str, dict[str, list[tuple[str, str]]]] = {lang: defaultdict(list)
                                                          for lang in LANGUAGES}

    def walk(client: TestClient, who: str, walked: list[str]) -> None:
        for lang in LANGUAGES:
            client.cookies.set(LANG_COOKIE, lang)
            for path in walked:
                for chunk in dict.fromkeys(_text_of(client, path)):
                    shown[lang][chunk].append((who, path))

    walk(TestClient(app, raise_server_exceptions=False), "signed out",
         ["/login", "/no-such-page"])
    for role in WALKERS:
        username = ROLE_USERS[role][0]
        client = TestClient(app, raise_server_exceptions=False)
        assert login(client, username).status_code == 303
        walk(client, username, paths + (once if role is Role.ADMIN else []))
    data = sorted(data_strings(world.store), key=len, reverse=True)
    app.state.store.engine.dispose()
    world.store.engine.dispose()
    return Pages(shown, re.compile("|".join(map(re.escape, data))))


def _text_of(client: TestClient, path: str) -> list[str]:
    response = client.get(path)  # a page that fails (500) is the matrix tests' to report
    if not response.headers.get("content-type", "").startswith("text/html"):
        return []
    return visible_text(response.text)


# Findings in templates that other people are changing now: (language, page, text) → the file
# and what to do. They are left out of the checks above; test_pending_findings_are_still_shown
# fails once one is fixed, so that its entry (and its TEMPLATE_CHINESE one) goes with the fix.
PENDING = {
}


def _findings(pages: Pages, lang: str, is_finding) -> dict[str, list[tuple[str, str]]]:
    found = {}
    for text, places in pages.texts(lang):
        places = [(who, path) for who, path in places
                  if (lang, path.split("?")[0], text) not in PENDING]
        if places and is_finding(text):
            found[text] = places
    return found


def test_pending_findings_are_still_shown(pages):
    fixed = [f"{key}: {what}" for key, what in PENDING.items()
             if not any(path.split("?")[0] == key[1] for _, path in pages.shown[key[0]][key[2]])]
    assert not fixed, "fixed — remove these entries from PENDING in tests/test_catalogs.py:\n" + \
        "\n".join(fixed)


def _report(found: dict[str, list[tuple[str, str]]]) -> str:
    lines = []
    for text, places in sorted(found.items(), key=lambda item: (item[1][0][1], item[0])):
        who = sorted({u for u, _ in places})
        paths = sorted({p for _, p in places})
        lines.append(f"{paths[0]}{' …' if len(paths) > 1 else ''} (as {', '.join(who[:3])}"
                     f"{' …' if len(who) > 3 else ''}): {text!r}")
    return "\n".join(lines)


def test_english_pages_show_no_chinese_but_data(pages):
    found = _findings(pages, "en", lambda text: HAN.search(pages.data.sub(" ", text)))
    assert not found, (
        f"{len(found)} texts of English pages are Chinese (the data of the store taken out): "
        "give the template an English msgid in _(…) and its Chinese in a catalog "
        f"({HOW_TO}):\n" + _report(found))


def _msgid_pattern(msgids) -> re.Pattern:
    """Matches a whole text that is one of ``msgids``, placeholders filled with anything."""
    alternatives = []
    for msgid in sorted(msgids, key=len, reverse=True):
        parts = PLACEHOLDER.split(msgid)[::3]  # the literal text between placeholders
        alternatives.append(".+?".join(re.escape(" ".join(p.split())) for p in parts))
    return re.compile("|".join(alternatives))


# Latin words a Chinese page may show: the product's name, initialisms, file formats, units.
LATIN_WORDS = frozenset({"jiqun", "kpi", "top", "csv", "xlsx", "html", "pdf", "vip", "iso",
                         "api", "echarts", "highs", "or-tools"})
# A word, not a code (ZL-G01, QQFOREIGN) nor an identifier (waybill_no).
ENGLISH_WORD = re.compile(r"(?<![\w-])[A-Za-z][a-z]{2,}(?:'[a-z]+)?(?![\w-])")
QUOTED_CODE = re.compile(r"`[^`]*`")  # a command quoted in a sentence: `jiqun kpi`


def _english_words(text: str) -> list[str]:
    return [w for w in ENGLISH_WORD.findall(QUOTED_CODE.sub(" ", text))
            if w.lower() not in LATIN_WORDS]


def test_chinese_pages_show_no_english_ui_text(pages):
    """An English msgid shown as it is (its translation missing, or a label passed to the page
    untranslated), or English words typed into a template outside ``_()``."""
    msgids = {m for m in set(used_msgids()) | set(_catalog("zh-CN"))
              if m not in SAME_IN_BOTH and WORD.search(PLACEHOLDER.sub("", m))}
    is_msgid = _msgid_pattern(msgids)

    def is_english(text: str) -> bool:
        if pages.data.fullmatch(text):
            return False
        return bool(is_msgid.fullmatch(text) or _english_words(pages.data.sub(" ", text)))

    found = _findings(pages, "zh-CN", is_english)
    assert not found, (
        f"{len(found)} texts of Chinese pages are English: wrap the text in _(…) and give its "
        f"msgid a msgstr in a catalog, or translate a label where it is rendered (words that "
        f"stay Latin: LATIN_WORDS in tests/test_catalogs.py; {HOW_TO}):\n" + _report(found))
