"""Customer search (sales/customer_search.py, store/search_keys.py): a name fragment, pinyin
initials, full pinyin, a phone or a code finds the same customers on SQLite and PostgreSQL; the
keys follow every write (archive entry, import, rename, the demo's Core bulk insert); pages in
the list's order neither repeat nor skip a customer when volumes tie."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, insert, inspect, select, text

from jiqun.ingest import import_file
from jiqun.sales import customer_search, visits
from jiqun.sales.customer_search import (
    CustomerSearch,
    FoundCount,
    count_customers,
    count_found,
    find_customers,
    matching,
)
from jiqun.store import search_keys
from jiqun.store.models import Customer, LifecycleStage
from jiqun.store.scope import Scope
from tests.conftest import build_org
from tests.ingest.helpers import TEMPLATES, import_templates, write_csv


def codes(store, q: str, scope: Scope | None = None) -> list[str]:
    with store.session(scope=scope) as s:
        return sorted(r.code for r in find_customers(s, CustomerSearch(q=q)))


@pytest.fixture
def archive(any_store, tmp_path):
    """The org tree and the template markets and customers, on SQLite and PostgreSQL."""
    org = build_org(any_store)
    import_templates(any_store, tmp_path / "lake")
    return any_store, org


# -- the keys ---------------------------------------------------------------------------------
def test_initials_and_full_pinyin_of_a_merchants_name():
    assert search_keys.initials("虞城稍岗工具商行") == ["ycsggjsh"]
    assert search_keys.full_pinyin("虞城稍岗工具商行") == "yuchengshaoganggongjushanghang"
    # Letters and digits stay, punctuation goes, full-width forms are folded
    assert search_keys.initials("ABC服装（旗舰店）") == ["abcfzqjd"]
    assert search_keys.full_pinyin("ＡＢ１号") == "ab1hao"


def test_a_character_of_two_readings_gives_the_initials_of_both():
    # 长葛 (Changge, a city of Henan): 长 is read chang or zhang, and merchants type either
    assert {"cgswj", "zgswj"} <= set(search_keys.initials("长葛市五金"))
    assert len(search_keys.initials("长、重、乐、都、行")) == search_keys.MAX_INITIALS_VARIANTS


@given(st.text(alphabet="服装童鞋ab1 ", max_size=8), st.text(alphabet="服装童鞋ab1", max_size=3))
def test_a_widened_fragment_lies_in_a_widened_name_exactly_where_the_fragment_lies(name, part):
    assert (part in name) == (search_keys.widen(part) in search_keys.widen(name))


# -- search on both databases -----------------------------------------------------------------
SEARCHES = [
    ("稍岗", ["YC-000001"]),               # a name fragment of two characters
    ("童", ["ZL-000001"]),                 # of one
    ("ycsg", ["YC-000001"]),               # pinyin initials of the name's start
    ("GJ", ["YC-000001"]),                 # of its middle, in capitals
    ("shaogang", ["YC-000001"]),           # full pinyin
    ("13900000001", ["YC-000001"]),        # the whole phone
    ("0000002", ["ZL-000002"]),            # part of it (and of the code)
    ("yc-000001", ["YC-000001"]),          # the code in lower case
    ("ＹＣ－０００００１", ["YC-000001"]),  # and typed in full-width forms
    ("织里 小萌", ["ZL-000001"]),          # spaces typed between words are not part of a name
    ("%", []), ("_", []),                  # LIKE's wildcards are plain characters here
    ("13", []),                            # a phone is matched from three characters on
    ("", ["YC-000001", "ZL-000001", "ZL-000002"]),  # no text: every customer
]


def test_search_finds_by_name_initials_pinyin_phone_and_code(archive):
    store, _ = archive
    with store.session() as s:
        found = {q: (sorted(r.code for r in find_customers(s, CustomerSearch(q=q))),
                     count_customers(s, CustomerSearch(q=q))) for q, _ in SEARCHES}
    assert found == {q: (codes, len(codes)) for q, codes in SEARCHES}


def test_search_stays_in_the_scope(archive):
    store, org = archive
    with store.session() as s:
        hangzhou = Scope.for_unit(s, org.hangzhou)
        huzhou = Scope.for_unit(s, org.huzhou)
    assert codes(store, "zlxm", huzhou) == ["ZL-000001"]
    assert codes(store, "zlxm", hangzhou) == []


def test_the_visit_form_finds_customers_with_the_same_search(archive):
    store, _ = archive
    with store.session() as s:
        assert [c.code for c in visits.find_customers(s, user_id=0, q="hzbb")] == ["ZL-000002"]


def test_a_rename_moves_the_keys_with_the_name(archive):
    store, _ = archive
    with store.transaction() as s:
        customer = s.scalar(select(Customer).where(Customer.code == "YC-000001"))
        customer.name = "长葛华丰五金"
    assert codes(store, "ycsg") == [] and codes(store, "稍岗") == []
    assert codes(store, "cghf") == codes(store, "华丰") == codes(store, "huafeng") == ["YC-000001"]
    with store.transaction() as s:  # a change of phone alone moves the phone in the key
        s.scalar(select(Customer).where(Customer.code == "YC-000001")).phone = "13712345678"
    assert codes(store, "13712345678") == ["YC-000001"] and codes(store, "13900000001") == []


def test_an_import_that_renames_a_customer_moves_its_keys(archive, tmp_path):
    store, _ = archive
    with open(TEMPLATES / "customers.csv", encoding="utf-8-sig") as fh:
        header = fh.readline().strip().split(",")
        row = next(line.strip().split(",") for line in fh if line.startswith("YC-000001"))
    row[1] = "虞城金鼎量具厂"
    report = import_file("customers", write_csv(tmp_path / "rename.csv", header, [row]), store,
                         tmp_path / "lake")
    assert (report.rejected, report.updated) == (0, 1)
    assert codes(store, "jdlj") == codes(store, "金鼎") == ["YC-000001"]
    assert codes(store, "ycsg") == []


def test_a_core_bulk_insert_gets_its_keys_from_the_defaults(archive):
    # The demo writes its archive with insert(Customer.__table__) and many rows at once
    store, org = archive
    with store.transaction() as s:
        s.execute(insert(Customer.__table__), [
            {"code": f"B-{i}", "name": name, "phone": f"1500000000{i}", "org_unit_id": org.xihu.id,
             "lifecycle_stage": "archived", "vip": False, "version": 1}
            for i, name in enumerate(["西湖龙井茶行", "杭州丝绸坊"])])
    assert codes(store, "xhlj") == codes(store, "龙井") == ["B-0"]
    assert codes(store, "sichou") == codes(store, "15000000001") == ["B-1"]


def test_pages_of_tied_customers_neither_repeat_nor_skip_one(any_store):
    org = build_org(any_store)
    volumes = [5.0] * 23 + [None] * 11 + [7.0] * 9  # ties within and across the pages' edges
    with any_store.transaction() as s:
        s.add_all([Customer(code=f"T-{i:02d}", name="同名商行", est_daily_volume=v,
                            org_unit_id=org.zhili_outlet.id, lifecycle_stage=LifecycleStage.ARCHIVED)
                   for i, v in enumerate(volumes)])
    with any_store.session() as s:
        search = CustomerSearch(q="同名")
        pages = [find_customers(s, search, offset, 10) for offset in range(0, len(volumes), 10)]
        every = find_customers(s, search)
    seen = [r.id for page in pages for r in page]
    assert seen == [r.id for r in every] and len(set(seen)) == len(volumes)
    assert [r.est_daily_volume for r in every] == [7.0] * 9 + [5.0] * 23 + [None] * 11
    for tied in (every[:9], every[9:32], every[32:]):
        assert [r.id for r in tied] == sorted(r.id for r in tied)


def test_postgres_searches_through_the_trigram_indexes(archive):
    store, _ = archive
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("customers")}
    keys = {"ix_customers_fragment_key", "ix_customers_words_key"}
    if store.engine.dialect.name != "postgresql":
        assert not indexes & keys  # SQLite scans: a b-tree of the keys would serve no LIKE
        return
    with store.session() as s:
        query = matching(s, CustomerSearch(q="稍岗工具")).with_only_columns(Customer.id)
        sql = str(query.compile(s.bind, compile_kwargs={"literal_binds": True}))
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask for the index
        plan = " ".join(r[0] for r in s.execute(text("EXPLAIN " + sql)))
    assert keys <= indexes and all(k in plan for k in keys)


# -- the capped count and the plan it chooses -------------------------------------------------
@pytest.fixture
def shops(any_store):
    """Seven 同名商行 of tied and missing volumes, and one 别家 shop."""
    org = build_org(any_store)
    volumes = [5.0, None, 7.0, 5.0, None, 5.0, 9.0]
    with any_store.transaction() as s:
        s.add_all([Customer(code=f"S-{i}", name="同名商行", est_daily_volume=v,
                            org_unit_id=org.zhili_outlet.id, lifecycle_stage=LifecycleStage.ARCHIVED)
                   for i, v in enumerate(volumes)])
        s.add(Customer(code="S-other", name="别家店", est_daily_volume=8.0,
                       org_unit_id=org.zhili_outlet.id, lifecycle_stage=LifecycleStage.ARCHIVED))
    return any_store


def test_a_text_search_counts_at_most_the_cap_and_says_there_are_more(shops):
    with shops.session() as s:
        search = CustomerSearch(q="同名")
        assert count_customers(s, search) == 7
        assert count_customers(s, search, cap=3) == 4  # the cap and one more: "more than 3"
        assert count_found(s, search, cap=6) == FoundCount(6, capped=True)
        assert count_found(s, search, cap=7) == FoundCount(7, capped=False)  # exact up to it
        assert count_found(s, search, cap=100) == FoundCount(7, capped=False)
        # Without text the count is exact whatever the cap: the scope's indexes count fast
        assert count_found(s, CustomerSearch(), cap=2) == FoundCount(8, capped=False)
        # The capped count's plan setting (PostgreSQL) does not outlive it
        if shops.engine.dialect.name == "postgresql":
            assert [s.scalar(select(func.current_setting(name))) for name in
                    ("enable_indexscan", "enable_seqscan")] == ["on", "on"]


@pytest.mark.parametrize("budget", [50_000, 4])
def test_both_plans_of_a_text_search_read_the_same_pages(shops, monkeypatch, budget):
    # A common search walks the list's order (at most ``budget`` customers of it, else sorts)
    monkeypatch.setattr(customer_search, "WALK_BUDGET", budget)
    with shops.session() as s:
        search = CustomerSearch(q="商行")
        pages = {common: [[r.code for r in find_customers(s, search, offset, 3, common)]
                          for offset in range(0, 9, 3)] for common in (True, False, None)}
        every = [r.code for r in find_customers(s, search)]
        # A walk that found too few sorts by the bitmaps; the setting does not outlive the page
        if shops.engine.dialect.name == "postgresql":
            assert [s.scalar(select(func.current_setting(name))) for name in
                    ("enable_indexscan", "enable_seqscan")] == ["on", "on"]
    assert pages[True] == pages[False] == pages[None]
    assert [c for page in pages[True] for c in page] == every
    assert every == ["S-6", "S-2", "S-0", "S-3", "S-5", "S-1", "S-4"]


def test_the_count_chooses_the_plan_a_common_fragment_walks_the_order_index(shops, monkeypatch):
    def order_sql(s, search) -> str:
        key = customer_search._order_key(s, search, 20, None)
        return str(key.compile(s.bind))

    with shops.session() as s:
        search = CustomerSearch(q="同名")
        assert "+" in order_sql(s, search)  # 7 of at most 1,000: rare, sort what was found
        monkeypatch.setattr(customer_search, "TEXT_COUNT_CAP", 3)
        assert "+" not in order_sql(s, search)  # more than the cap: walk the volume index
        assert "+" not in order_sql(s, CustomerSearch())  # the list walks it too
        if shops.engine.dialect.name != "postgresql":
            return
        query = matching(s, search).with_only_columns(Customer.id).order_by(
            customer_search._order_key(s, search, 20, None).desc().nulls_last(), Customer.id
        ).limit(20)
        sql = str(query.compile(s.bind, compile_kwargs={"literal_binds": True}))
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask for the index
        s.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = " ".join(r[0] for r in s.execute(text("EXPLAIN " + sql)))
    assert "ix_customers_volume_order" in plan
