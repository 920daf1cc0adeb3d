"""patient notices

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_notices',
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('read_ns', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('notice_id')
    )
    with op.batch_alter_table('patient_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_notices_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('patient_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_notices_patient_id'))
    op.drop_table('patient_notices')
