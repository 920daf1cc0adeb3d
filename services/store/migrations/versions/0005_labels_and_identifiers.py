"""record label reasons; patient identifiers as keyed hashes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:30:00.000000

Records deposited before this upgrade have no label reasons (NULL): their labels stay as they
were filed. Patients enrolled before it have no identifiers, so deposits name them by id only.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_identifiers',
    sa.Column('identifier_hash', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('identifier_hash')
    )
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifiers_patient_id'), ['patient_id'], unique=False)
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label_reasons', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('label_reasons')
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifiers_patient_id'))
    op.drop_table('patient_identifiers')
