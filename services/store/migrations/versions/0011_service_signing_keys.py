"""the service's own signing keys (public halves), their validity and rotation endorsements

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_signing_keys',
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('valid_from_ns', sa.BigInteger(), nullable=False),
    sa.Column('retired_ns', sa.BigInteger(), nullable=True),
    sa.Column('revoked_from_ns', sa.BigInteger(), nullable=True),
    sa.Column('statement', sa.LargeBinary(), nullable=True),
    sa.Column('old_signature', sa.LargeBinary(), nullable=True),
    sa.Column('new_signature', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('purpose', 'key_id')
    )


def downgrade() -> None:
    op.drop_table('service_signing_keys')
