"""trust: record versions (no lost update) and the actor's name on audit entries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

VERSIONED = ('users', 'markets', 'teams', 'grids', 'customers', 'campaigns',
             'duplicate_candidates', 'targets', 'facilities', 'dedicated_lines', 'problems')


def upgrade() -> None:
    for table in VERSIONED:
        op.add_column(table, sa.Column('version', sa.Integer(), server_default='1',
                                       nullable=False))
    op.add_column('audit_log', sa.Column('username', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('audit_log', 'username')
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('version')
