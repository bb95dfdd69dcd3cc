"""scope: org units on the tables that were not scoped

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:50:00
"""

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the scope work (issue 9, item 3)


def downgrade() -> None:
    pass
