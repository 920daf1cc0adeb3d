"""which allowed decisions reached their recipient (access.delivered entries)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 22:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_deliveries',
    sa.Column('decision_seq', sa.BigInteger(), nullable=False),
    sa.Column('delivered_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('decision_seq')
    )


def downgrade() -> None:
    op.drop_table('access_deliveries')
