"""Consentry's gRPC services, the domain behind them, storage, crypto, auth, CLI and client SDK."""
