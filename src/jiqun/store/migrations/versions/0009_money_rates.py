"""money rates: rate cards (versions, lines, surcharges), contract prices, bundles

The flat ``rate_cards`` of 0001 (one row per market × zone × product × band, written only by the
demo) is replaced by cards with dated versions, their lines and surcharges.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 14:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rate_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_cards_org_unit_id'))
    op.drop_table('rate_cards')
    op.create_table('rate_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('origin', sa.Enum('customer', 'market', 'county', 'province', name='rateorigin', native_enum=False, length=32), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('product', sa.Enum('express', 'parcel', 'standard', name='product', native_enum=False, length=32), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('rate_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_cards_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_cards_market_id'), ['market_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_cards_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('rate_card_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'pending_approval', 'in_force', 'superseded', name='pricestatus', native_enum=False, length=32), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('volumetric_divisor', sa.Float(), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('proposed_level', sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel', native_enum=False, length=32), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['card_id'], ['rate_cards.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('card_id', 'number')
    )
    with op.batch_alter_table('rate_card_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_card_versions_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_card_versions_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('rate_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('zone', sa.String(length=16), nullable=False),
    sa.Column('weight_from_kg', sa.Float(), nullable=False),
    sa.Column('weight_to_kg', sa.Float(), nullable=False),
    sa.Column('first_weight_kg', sa.Float(), nullable=False),
    sa.Column('first_price', sa.Float(), nullable=False),
    sa.Column('extra_per_kg', sa.Float(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['rate_card_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_lines_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_lines_version_id'), ['version_id'], unique=False)

    op.create_table('rate_surcharges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('percent', sa.Float(), nullable=False),
    sa.Column('adcodes', sa.JSON(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['rate_card_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_surcharges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_surcharges_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_surcharges_version_id'), ['version_id'], unique=False)

    op.create_table('price_bundles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('product', sa.Enum('express', 'parcel', 'standard', name='product', native_enum=False, length=32), nullable=False),
    sa.Column('promise_hours', sa.Integer(), nullable=True),
    sa.Column('services', sa.JSON(), nullable=True),
    sa.Column('rate_adjustment', sa.Float(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('price_bundles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_bundles_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('price_contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product', sa.Enum('express', 'parcel', 'standard', name='product', native_enum=False, length=32), nullable=True),
    sa.Column('discount', sa.Float(), nullable=False),
    sa.Column('bundle_id', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'pending_approval', 'in_force', 'superseded', name='pricestatus', native_enum=False, length=32), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('proposed_level', sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel', native_enum=False, length=32), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['bundle_id'], ['price_bundles.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('price_contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_contracts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_price_contracts_org_unit_id'), ['org_unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('price_contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_contracts_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_price_contracts_customer_id'))

    op.drop_table('price_contracts')
    with op.batch_alter_table('price_bundles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_bundles_org_unit_id'))

    op.drop_table('price_bundles')
    with op.batch_alter_table('rate_surcharges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_surcharges_version_id'))
        batch_op.drop_index(batch_op.f('ix_rate_surcharges_org_unit_id'))

    op.drop_table('rate_surcharges')
    with op.batch_alter_table('rate_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_lines_version_id'))
        batch_op.drop_index(batch_op.f('ix_rate_lines_org_unit_id'))

    op.drop_table('rate_lines')
    with op.batch_alter_table('rate_card_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_card_versions_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_rate_card_versions_card_id'))

    op.drop_table('rate_card_versions')
    with op.batch_alter_table('rate_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_cards_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_rate_cards_market_id'))
        batch_op.drop_index(batch_op.f('ix_rate_cards_customer_id'))

    op.drop_table('rate_cards')
    op.create_table('rate_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('product', sa.Enum('express', 'parcel', 'standard', name='product', native_enum=False, length=32), nullable=False),
    sa.Column('weight_from_kg', sa.Float(), nullable=False),
    sa.Column('weight_to_kg', sa.Float(), nullable=False),
    sa.Column('first_weight_price', sa.Float(), nullable=False),
    sa.Column('extra_per_kg', sa.Float(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_cards_org_unit_id'), ['org_unit_id'], unique=False)
