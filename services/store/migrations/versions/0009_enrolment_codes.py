"""one-time enrolment codes, kept as keyed hashes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enrolment_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('identifier_hashes', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=140), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('expire_ns', sa.BigInteger(), nullable=False),
    sa.Column('used_ns', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_codes_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_codes_patient_id'))
    op.drop_table('enrolment_codes')
