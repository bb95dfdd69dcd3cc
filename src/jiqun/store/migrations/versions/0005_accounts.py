"""accounts: sessions that end on the server, login attempts kept in the store

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:50:00
"""

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the accounts work (issue 9, item 9)


def downgrade() -> None:
    pass
