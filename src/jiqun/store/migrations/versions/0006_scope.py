"""scope: the org path index serves the scope's prefix lookups on PostgreSQL

The scope filters by ``org_units.path LIKE '<root>%'`` (jiqun.store.scope). PostgreSQL uses a
plain b-tree index for such a prefix only under the C collation; the pattern operator class
serves it under any collation. SQLite's index stays as it is.

No table gains a column: link rows (team members, campaign targets) are scoped through their
parent row, and audit entries already carry the changed row's org unit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:50:00
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade() -> None:
    if _postgres():
        op.drop_index('ix_org_units_path', table_name='org_units')
        op.create_index('ix_org_units_path', 'org_units', ['path'],
                        postgresql_ops={'path': 'varchar_pattern_ops'})


def downgrade() -> None:
    if _postgres():
        op.drop_index('ix_org_units_path', table_name='org_units')
        op.create_index('ix_org_units_path', 'org_units', ['path'])
