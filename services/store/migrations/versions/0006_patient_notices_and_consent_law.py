"""patient notices; privacy notices named by consents; broad consents expanded; emergency accesses; Part 2 programs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:40:00.000000

A consent or access request naming "*" made before this upgrade gets the explicit list of
non-sensitive categories the vocabulary holds at the upgrade as what "*" covers, so a category
added later is not covered without the patient's agreement. Consents and requests from before it name no notice.
"""
import json

from alembic import op
import sqlalchemy as sa

from consentry.policy.bundle import POLICY_DIR


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_NOTICE_COLUMNS = ('notice_id', 'notice_version', 'notice_sha256')


def _notice_columns() -> list[sa.Column]:
    return [sa.Column('notice_id', sa.String(length=36), nullable=True),
            sa.Column('notice_version', sa.Integer(), nullable=True),
            sa.Column('notice_sha256', sa.String(length=64), nullable=True)]


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
    op.create_table('privacy_notices',
    sa.Column('notice_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('notice_id', 'version')
    )
    with op.batch_alter_table('privacy_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_notices_institution_id'), ['institution_id'], unique=False)
    for table in ('consents', 'access_requests'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in _notice_columns():
                batch_op.add_column(column)
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broad_categories', sa.JSON(), nullable=True))
    _expand_broad_consents()
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part2_program', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('emergency_accesses',
    sa.Column('emergency_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('practitioner', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('holders', sa.JSON(), nullable=False),
    sa.Column('record_ids', sa.JSON(), nullable=False),
    sa.Column('justification_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('justification_wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('justification_kek_id', sa.String(length=64), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('review_due_ns', sa.BigInteger(), nullable=False),
    sa.Column('reviewed_ns', sa.BigInteger(), nullable=True),
    sa.Column('reviewer', sa.String(length=140), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('emergency_id')
    )
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_accesses_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_accesses_review_due_ns'), ['review_due_ns'], unique=False)


def _expand_broad_consents() -> None:
    vocabulary = json.loads((POLICY_DIR / "data" / "vocabulary.json").read_text())
    broad = vocabulary["broad_category"]
    named = [c for c in vocabulary["categories"] if c not in vocabulary["sensitive_categories"]]

    conn = op.get_bind()
    consents = sa.table('consents', sa.column('consent_id', sa.String), sa.column('version', sa.Integer),
                        sa.column('categories', sa.JSON), sa.column('broad_categories', sa.JSON))
    for consent_id, version, categories, _ in conn.execute(sa.select(consents)).all():
        if broad in categories:
            conn.execute(consents.update().where(consents.c.consent_id == consent_id, consents.c.version == version)
                         .values(broad_categories=named))
    requests = sa.table('access_requests', sa.column('request_id', sa.String), sa.column('terms', sa.JSON))
    for request_id, terms in conn.execute(sa.select(requests)).all():
        if broad in terms.get('categories', []):
            conn.execute(requests.update().where(requests.c.request_id == request_id)
                         .values(terms={**terms, 'broad_categories': named}))


def downgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('part2_program')
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_accesses_review_due_ns'))
        batch_op.drop_index(batch_op.f('ix_emergency_accesses_patient_id'))
    op.drop_table('emergency_accesses')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('broad_categories')
    for table in ('access_requests', 'consents'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(_NOTICE_COLUMNS):
                batch_op.drop_column(column)
    with op.batch_alter_table('privacy_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_notices_institution_id'))
    op.drop_table('privacy_notices')
    with op.batch_alter_table('patient_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_notices_patient_id'))
    op.drop_table('patient_notices')
