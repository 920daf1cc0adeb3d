"""erasure that unlinks: per-patient pseudonym keys

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 12:00:00.000000

`patient_pseudonym_keys` holds each patient's own pseudonym key. A database from before it has
entries naming patients under the service-wide key, and a history index (`ledger_subjects`) keyed
by those pseudonyms. Migrations do not read the service secret, so this one only lists every
patient the database knows with a NULL key; the server, when it starts, gives each a key of their
own and moves their index rows to the new pseudonym (store/pseudonym_keys.py,
`adopt_service_wide`), so a patient's history stays whole. Their entries written before keep the
service-wide pseudonym: the ledger is append-only and those entries predate redactable ones, so
whoever holds the service secret and the patient's id can still link them (docs/erasure.md).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_KNOWN_PATIENTS = """
INSERT INTO patient_pseudonym_keys (patient_id, key, created_ns)
SELECT patient_id, NULL, 0 FROM (
    SELECT patient_id FROM persons
    UNION SELECT patient_id FROM records
    UNION SELECT patient_id FROM consents
    UNION SELECT proxy_id FROM proxies
) AS known
"""


def upgrade() -> None:
    op.create_table('patient_pseudonym_keys',
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=True),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('patient_id')
    )
    op.execute(_KNOWN_PATIENTS)


def downgrade() -> None:
    op.drop_table('patient_pseudonym_keys')
