"""service: tracking exceptions, the service queue, problems escalated until solved, jobs

Exceptions found on parcels (one row per waybill × kind), service cases grouping them with an
owner and working-hour deadlines and a log of contacts; problems gain their level, clock, source,
merge into a common problem and who solved them, with an event history; runs and leases of the
scheduled jobs; a customer may ship from a warehouse (仓配一体).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('until', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('job')
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.Enum('running', 'ok', 'failed', 'skipped', name='joboutcome', native_enum=False, length=32), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_job_started', ['job', 'started_at'], unique=False)

    op.create_table('service_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('group_key', sa.String(length=80), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('stalled', 'late', 'missing_scan', 'failed_delivery', 'returned', 'locker_uncollected', 'lost', name='exceptionkind', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'waiting', 'resolved', name='casestatus', native_enum=False, length=32), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('first_response_due', sa.DateTime(), nullable=False),
    sa.Column('resolve_due', sa.DateTime(), nullable=False),
    sa.Column('first_response_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('waiting_since', sa.DateTime(), nullable=True),
    sa.Column('warned_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_to_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['escalated_to_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('service_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_cases_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_cases_group_key'), ['group_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_cases_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_cases_owner_id'), ['owner_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('template', sa.String(length=32), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['service_cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)

    op.create_table('parcel_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('waybill_no', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('market_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('stalled', 'late', 'missing_scan', 'failed_delivery', 'returned', 'locker_uncollected', 'lost', name='exceptionkind', native_enum=False, length=32), nullable=False),
    sa.Column('responsibility', sa.Enum('carrier', 'shipper', 'recipient', 'force_majeure', 'unknown', name='responsibility', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('leg', sa.String(length=32), nullable=True),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('bag_key', sa.String(length=64), nullable=True),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('promised_at', sa.DateTime(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('cleared_at', sa.DateTime(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['service_cases.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('waybill_no', 'kind')
    )
    with op.batch_alter_table('parcel_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parcel_exceptions_bag_key'), ['bag_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcel_exceptions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcel_exceptions_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcel_exceptions_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcel_exceptions_waybill_no'), ['waybill_no'], unique=False)

    op.create_table('problem_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('from_level', sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel', native_enum=False, length=32), nullable=True),
    sa.Column('to_level', sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel', native_enum=False, length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_events_problem_id'), ['problem_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warehouse_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_customers_warehouse_id_facilities', 'facilities', ['warehouse_id'], ['id'])

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.Enum('hq', 'province', 'city', 'county', 'outlet', name='orglevel', native_enum=False, length=32), server_default='city', nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='meeting', nullable=False))
        batch_op.add_column(sa.Column('visit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('is_common', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('solved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('solution', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_problems_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key('fk_problems_visit_id_visits', 'visits', ['visit_id'], ['id'])
        batch_op.create_foreign_key('fk_problems_solved_by_id_users', 'users', ['solved_by_id'], ['id'])
        batch_op.create_foreign_key('fk_problems_case_id_service_cases', 'service_cases', ['case_id'], ['id'])
        batch_op.create_foreign_key('fk_problems_merged_into_id_problems', 'problems', ['merged_into_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('problems', schema=None) as batch_op:
        for name in ('fk_problems_merged_into_id_problems', 'fk_problems_case_id_service_cases',
                     'fk_problems_solved_by_id_users', 'fk_problems_visit_id_visits'):
            batch_op.drop_constraint(name, type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_problems_merged_into_id'))
        batch_op.drop_column('solution')
        batch_op.drop_column('solved_by_id')
        batch_op.drop_column('is_common')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('case_id')
        batch_op.drop_column('visit_id')
        batch_op.drop_column('source')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('due_at')
        batch_op.drop_column('level')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint('fk_customers_warehouse_id_facilities', type_='foreignkey')
        batch_op.drop_column('warehouse_id')

    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_events_problem_id'))

    op.drop_table('problem_events')
    with op.batch_alter_table('parcel_exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parcel_exceptions_waybill_no'))
        batch_op.drop_index(batch_op.f('ix_parcel_exceptions_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_parcel_exceptions_customer_id'))
        batch_op.drop_index(batch_op.f('ix_parcel_exceptions_case_id'))
        batch_op.drop_index(batch_op.f('ix_parcel_exceptions_bag_key'))

    op.drop_table('parcel_exceptions')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    with op.batch_alter_table('service_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_cases_owner_id'))
        batch_op.drop_index(batch_op.f('ix_service_cases_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_service_cases_group_key'))
        batch_op.drop_index(batch_op.f('ix_service_cases_customer_id'))

    op.drop_table('service_cases')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_job_started')

    op.drop_table('job_runs')
    op.drop_table('job_leases')
