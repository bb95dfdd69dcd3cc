"""Every table with an org unit is scoped: a mapped model is Scoped, or on the commented
allow-list of jiqun.store.scope with its reason — a new model without a decision fails here."""

from __future__ import annotations

from jiqun.store.models import Base, OrgScoped, Scoped, ScopedByParent
from jiqun.store.scope import UNSCOPED_MODELS


def _models() -> dict[str, type]:
    return {m.class_.__name__: m.class_ for m in Base.registry.mappers}


def test_every_model_is_scoped_or_allowed_with_a_reason():
    undecided = [name for name, model in _models().items()
                 if not issubclass(model, Scoped) and name not in UNSCOPED_MODELS]
    assert undecided == [], "scope these models or add them, with the reason, to UNSCOPED_MODELS"
    assert all(reason.strip() for reason in UNSCOPED_MODELS.values())


def test_the_allow_list_names_only_unscoped_models_that_exist():
    models = _models()
    assert [n for n in UNSCOPED_MODELS if n not in models or issubclass(models[n], Scoped)] == []


def test_no_unscoped_model_carries_an_org_unit():
    # A table with an org unit is tenant data: it must be scoped, never allowed.
    models = _models()
    assert [n for n in UNSCOPED_MODELS if "org_unit_id" in models[n].__table__.c] == []


def test_link_models_name_a_scoped_parent_by_a_foreign_key():
    models = _models()
    for name, model in models.items():
        if issubclass(model, ScopedByParent):
            key, parent = model.__scope_parent__
            assert issubclass(models[parent], OrgScoped), name
            column = model.__table__.c[key]
            assert {fk.column.table.name for fk in column.foreign_keys} == {
                models[parent].__tablename__}, name
