"""The Consentry audit ledger: canonical entries, hash chain, RFC 9162 Merkle tree, proofs,
signed checkpoints and an offline verifier. Imports nothing from the service."""
