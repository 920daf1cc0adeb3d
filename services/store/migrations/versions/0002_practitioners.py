"""practitioners: an institution's staff and their roles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:10:00.000000

An institution's tokens are accepted only for registered practitioners, so after this upgrade
the operator registers each institution's practitioners (`consentry org practitioners add`)
before their calls succeed again.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('practitioners',
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('registered_ns', sa.BigInteger(), nullable=False),
    sa.Column('removed_ns', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('institution_id', 'practitioner_id')
    )


def downgrade() -> None:
    op.drop_table('practitioners')
