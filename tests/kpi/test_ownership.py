"""Tier → owner rules: every customer gets an owner of its tier's role, nearest and least loaded."""

from __future__ import annotations

from jiqun.kpi.rules import KpiRules
from jiqun.sales.ownership import Candidate, CustomerView, plan_changes
from jiqun.store.models import Role

COUNTY, OUTLET_A, OUTLET_B = "/1/2/3/", "/1/2/3/4/", "/1/2/3/5/"
GM = Candidate(10, Role.COUNTY_MANAGER, COUNTY)
HEAD = Candidate(11, Role.DEPARTMENT_HEAD, COUNTY)
AM_A1 = Candidate(12, Role.ACCOUNT_MANAGER, OUTLET_A)
AM_A2 = Candidate(13, Role.ACCOUNT_MANAGER, OUTLET_A)
AM_COUNTY = Candidate(14, Role.ACCOUNT_MANAGER, COUNTY)
CANDIDATES = [GM, HEAD, AM_A1, AM_A2, AM_COUNTY]


def _customer(i, tier=None, owner=None, path=OUTLET_A):
    return CustomerView(i, f"C{i:03d}", tier, owner, path)


def test_promotion_to_special_goes_to_the_county_general_manager():
    changes = plan_changes([_customer(1, "first", HEAD.user_id)], {1: "special"}, CANDIDATES,
                           KpiRules())
    assert [(c.new_tier, c.new_owner_id, c.required_role) for c in changes] == [
        ("special", GM.user_id, "county_manager")]


def test_an_owner_whose_role_still_fits_is_kept():
    changes = plan_changes([_customer(1, "second", HEAD.user_id)], {1: "first"}, CANDIDATES,
                           KpiRules())
    assert changes[0].new_owner_id == HEAD.user_id and not changes[0].changes_owner


def test_nothing_changes_when_tier_and_owner_already_fit():
    assert plan_changes([_customer(1, "micro", AM_A1.user_id)], {1: "micro"}, CANDIDATES,
                        KpiRules()) == []


def test_account_managers_come_from_the_nearest_unit_and_share_the_load():
    customers = [_customer(i, "first", HEAD.user_id) for i in range(1, 5)]
    changes = plan_changes(customers, dict.fromkeys(range(1, 5), "third"), CANDIDATES,
                           KpiRules())
    owners = [c.new_owner_id for c in changes]
    assert set(owners) == {AM_A1.user_id, AM_A2.user_id}  # the outlet's, not the county's
    assert owners.count(AM_A1.user_id) == owners.count(AM_A2.user_id) == 2


def test_outlet_without_account_manager_falls_back_up_the_tree():
    changes = plan_changes([_customer(1, None, None, OUTLET_B)], {1: "micro"}, CANDIDATES,
                           KpiRules())
    assert changes[0].new_owner_id == AM_COUNTY.user_id


def test_a_tier_with_no_one_of_its_role_in_reach_is_reported_unfilled():
    changes = plan_changes([_customer(1, "third", AM_A1.user_id)], {1: "special"},
                           [AM_A1, AM_A2], KpiRules())
    assert changes[0].new_owner_id is None and not changes[0].changes_owner


def test_a_prospect_in_the_pool_keeps_no_owner_and_only_its_tier_changes():
    """公海: nobody is assigned a prospect that waits to be claimed; its tier still follows its
    volume, and a customer without an owner outside the pool still gets one."""
    rules = KpiRules()
    people = [Candidate(7, Role.ACCOUNT_MANAGER, "/1/2/")]
    pooled = CustomerView(1, "C001", "third", None, "/1/2/", pooled=True)
    unowned = CustomerView(2, "C002", "micro", None, "/1/2/")
    changes = {c.customer_id: c for c in plan_changes(
        [pooled, unowned], {1: "micro", 2: "micro"}, people, rules)}
    assert (changes[1].new_tier, changes[1].new_owner_id) == ("micro", None)
    assert changes[2].new_owner_id == 7
    assert not plan_changes([CustomerView(3, "C003", "micro", None, "/1/2/", pooled=True)],
                            {3: "micro"}, people, rules)  # nothing to write
