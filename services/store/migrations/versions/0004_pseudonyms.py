"""pseudonyms: keyed content hashes, research subject ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

`records.content_hash` was an unsalted SHA-256 of the body, which confirms a guessed body. New
deposits get an HMAC under a key derived for their holder; the old hashes cannot be re-keyed
here (that needs the bodies and the service secret), so every existing one is set to NULL and
those records simply have no content hash. The old values may linger in free database pages, the
WAL and backups until those are overwritten (VACUUM on either backend rewrites the pages).

`consents.subject_id` names a research consent in a research fetch. It is derived from the consent
id under the service secret, which migrations do not read: the server fills it in for every
research consent that lacks one when it starts (domain/research_subjects.py, `assign_missing`).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.alter_column('content_hash', existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE records SET content_hash = NULL")
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_consents_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_subject_id'))
        batch_op.drop_column('subject_id')
    # The unsalted hashes are gone for good; the old schema gets an empty one.
    op.execute("UPDATE records SET content_hash = '' WHERE content_hash IS NULL")
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.alter_column('content_hash', existing_type=sa.String(length=64), nullable=False)
