"""line lifecycle: dedicated lines go draft → approved → running → closed

A line remembers who accepted the proposal and the level of their unit at the time (approval
needs someone above that level), and who approved it when. The status gains ``approved``; the
column is a plain string (no native enum, no check constraint), so no value list changes in
the database.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

LEVEL = sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel',
                native_enum=False, length=32)


def upgrade() -> None:
    # Batch mode: SQLite adds the foreign keys by copying the table.
    with op.batch_alter_table('dedicated_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('proposed_level', LEVEL, nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key('fk_dedicated_lines_proposed_by_id_users', 'users',
                                    ['proposed_by_id'], ['id'])
        batch_op.create_foreign_key('fk_dedicated_lines_approved_by_id_users', 'users',
                                    ['approved_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('dedicated_lines', schema=None) as batch_op:
        batch_op.drop_constraint('fk_dedicated_lines_approved_by_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_dedicated_lines_proposed_by_id_users', type_='foreignkey')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('proposed_level')
        batch_op.drop_column('proposed_by_id')
