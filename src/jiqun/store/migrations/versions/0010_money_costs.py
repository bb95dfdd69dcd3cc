"""money costs: cost parameters by pool and driver, the monthly ledger's rules

The old ``cost_parameters`` (activity / name / unit / value, written only by the demo) becomes
one driver rate per activity cost pool: pool, driver, destination zone, the volume-variable
rate, the fixed part a month and its allocation key, from a month on, per province or city;
edited on a page (versioned) and audited. Rows of the old shape are dropped: only the demo
wrote them, and it writes the new shape.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_POOLS = ('marketing', 'pickup', 'customer_service', 'processing', 'consolidation', 'line_haul',
          'last_mile')
_DRIVERS = ('visits', 'stops', 'pieces', 'contacts', 'trips', 'kg_km')


def _drop_table() -> None:
    with op.batch_alter_table('cost_parameters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_parameters_org_unit_id'))
    op.drop_table('cost_parameters')


def upgrade() -> None:
    _drop_table()
    op.create_table('cost_parameters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pool', sa.Enum(*_POOLS, name='costpool', native_enum=False, length=32), nullable=False),
    sa.Column('driver', sa.Enum(*_DRIVERS, name='costdriver', native_enum=False, length=32), nullable=False),
    sa.Column('zone', sa.String(length=16), nullable=False),
    sa.Column('rate', sa.Float(), nullable=False),
    sa.Column('fixed_per_month', sa.Float(), nullable=False),
    sa.Column('allocation_key', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_unit_id', 'pool', 'driver', 'zone', 'valid_from')
    )
    with op.batch_alter_table('cost_parameters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_parameters_org_unit_id'), ['org_unit_id'], unique=False)


def downgrade() -> None:
    _drop_table()
    op.create_table('cost_parameters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity', sa.Enum('marketing', 'pickup', 'customer_service', 'processing', 'transport', name='costactivity', native_enum=False, length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cost_parameters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_parameters_org_unit_id'), ['org_unit_id'], unique=False)
