"""key retirement times, and the signed evidence of consent changes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000

A retired identity key now authenticates only within a short grace after its retirement. Keys
retired before this upgrade have no retirement time and so no grace: they stop at once, as if
retired long ago; their holders sign with their current key.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('principal_keys') as batch:
        batch.add_column(sa.Column('retired_ns', sa.BigInteger(), nullable=True))
    op.create_table('consent_evidence',
    sa.Column('authorization', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('proxy_id', sa.String(length=128), nullable=True),
    sa.Column('method', sa.String(length=120), nullable=False),
    sa.Column('signer', sa.String(length=140), nullable=False),
    sa.Column('key_id', sa.String(length=80), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('request', sa.LargeBinary(), nullable=False),
    sa.Column('ledger_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('authorization')
    )
    op.create_index(op.f('ix_consent_evidence_patient_id'), 'consent_evidence', ['patient_id'], unique=False)
    op.create_index(op.f('ix_consent_evidence_consent_id'), 'consent_evidence', ['consent_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_consent_evidence_consent_id'), table_name='consent_evidence')
    op.drop_index(op.f('ix_consent_evidence_patient_id'), table_name='consent_evidence')
    op.drop_table('consent_evidence')
    with op.batch_alter_table('principal_keys') as batch:
        batch.drop_column('retired_ns')
