"""rights requests, recipient notices, representatives; amendments linked to the record they amend

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30 12:00:00.000000

Records deposited before this upgrade amend nothing (NULL).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rights_requests',
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('record_id', sa.String(length=40), nullable=True),
    sa.Column('received_ns', sa.BigInteger(), nullable=False),
    sa.Column('deadline_ns', sa.BigInteger(), nullable=False),
    sa.Column('deadline_basis', sa.String(length=200), nullable=False),
    sa.Column('law', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('updated_ns', sa.BigInteger(), nullable=False),
    sa.Column('refusal_reason', sa.String(length=32), nullable=True),
    sa.Column('explanation', sa.LargeBinary(), nullable=True),
    sa.Column('correction_reason', sa.String(length=32), nullable=True),
    sa.Column('correction_text', sa.LargeBinary(), nullable=True),
    sa.Column('amendment_record_id', sa.String(length=40), nullable=True),
    sa.Column('filed_by', sa.String(length=140), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_requests_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_requests_holder'), ['holder'], unique=False)
    op.create_table('recipient_notices',
    sa.Column('notice_id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('amendment_record_id', sa.String(length=40), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('notice_id')
    )
    with op.batch_alter_table('recipient_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recipient_notices_institution_id'), ['institution_id'], unique=False)
    op.create_table('representatives',
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('representative_id', sa.String(length=128), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('evidence_type', sa.String(length=32), nullable=False),
    sa.Column('evidence_hash', sa.String(length=64), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=True),
    sa.Column('ended_ns', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('patient_id', 'representative_id')
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amends_record_id', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_records_amends_record_id'), ['amends_record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_amends_record_id'))
        batch_op.drop_column('amends_record_id')
    op.drop_table('representatives')
    with op.batch_alter_table('recipient_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recipient_notices_institution_id'))
    op.drop_table('recipient_notices')
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_requests_holder'))
        batch_op.drop_index(batch_op.f('ix_rights_requests_patient_id'))
    op.drop_table('rights_requests')
