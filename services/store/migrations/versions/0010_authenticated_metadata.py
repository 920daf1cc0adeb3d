"""record metadata bound into the body's AAD (meta_version), consent MACs, the KEK fence

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 21:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing bodies are format version 1 (meta_version 0) until their next rewrap.
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meta_version', sa.Integer(), server_default='0', nullable=False))
    # The MAC needs the service secret, which a migration cannot reach: the server computes the
    # missing ones when it starts, once ("consent.macs" pending -> done).
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    state = op.create_table('service_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.bulk_insert(state, [{'name': 'consent.macs', 'value': 'pending', 'updated_ns': 0}])


def downgrade() -> None:
    op.drop_table('service_state')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('mac')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('meta_version')
