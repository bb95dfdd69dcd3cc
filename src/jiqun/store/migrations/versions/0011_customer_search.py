"""customer search: search keys (pinyin initials, full pinyin), trigram indexes, the list's order

Every customer gets its two search keys (jiqun.store.search_keys), computed here for the rows
already archived; PostgreSQL gets the pg_trgm extension (a trusted extension: the database's
owner may create it) and a trigram index on each key, which serves ``LIKE '%…%'``, and an index
in the list's order (biggest estimated volume first, then id). SQLite, for small deployments,
scans: it has no ``NULLS LAST`` in an index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:40:00
"""

import sqlalchemy as sa
from alembic import op

from jiqun.store import search_keys

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_BATCH = 5000
_customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('name', sa.String),
                      sa.column('code', sa.String), sa.column('phone', sa.String),
                      sa.column('fragment_key', sa.Text), sa.column('words_key', sa.Text))


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def _backfill() -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.select(_customers.c.id, _customers.c.name, _customers.c.code,
                                      _customers.c.phone).where(_customers.c.id > last)
                            .order_by(_customers.c.id).limit(_BATCH)).all()
        if not rows:
            return
        bind.execute(_customers.update().where(_customers.c.id == sa.bindparam('row_id'))
                     .values(fragment_key=sa.bindparam('fragment'), words_key=sa.bindparam('words')),
                     [{'row_id': r.id, 'fragment': search_keys.fragment_key(r.name),
                       'words': search_keys.words_key(r.name, r.code, r.phone)} for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    # NOT NULL with a default is a plain ADD COLUMN on SQLite too: making a column NOT NULL
    # afterwards rebuilds the table there, and dropping the old ``customers`` fails while the
    # rows that reference it are checked (the app's connections turn foreign keys on).
    for key in ('fragment_key', 'words_key'):
        op.add_column('customers', sa.Column(key, sa.Text(), nullable=False, server_default=''))
    _backfill()
    if _postgres():
        for key in ('fragment_key', 'words_key'):
            op.alter_column('customers', key, server_default=None)
        op.create_index('ix_customers_volume_order', 'customers',
                        [sa.text('est_daily_volume DESC NULLS LAST'), 'id'])
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for key in ('fragment_key', 'words_key'):
            op.create_index(f'ix_customers_{key}', 'customers', [key], postgresql_using='gin',
                            postgresql_ops={key: 'gin_trgm_ops'})


def downgrade() -> None:
    if _postgres():
        for key in ('fragment_key', 'words_key', 'volume_order'):
            op.drop_index(f'ix_customers_{key}', table_name='customers')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('words_key')
        batch_op.drop_column('fragment_key')
