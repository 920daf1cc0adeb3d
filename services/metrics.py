"""Every Prometheus metric the server keeps (docs/operations.md, "Metrics", lists them with a query each).

Defined once here, in the root room, so that the store, the domain and the API count into the
same objects; `serve --metrics HOST:PORT` exposes them (api/metrics.py). In the workers of
`serve --workers N` prometheus-client's multiprocess mode is on (PROMETHEUS_MULTIPROC_DIR, set by
the parent before the worker starts): each gauge says how the workers' values combine.

Labels are bounded sets the service names (method, code, outcome, pool): never an id, a patient
or anything a caller chose, so no series can grow with the callers or identify anyone.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Calls take milliseconds to seconds; a watch stream lasts as long as its caller stays.
_CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

CALLS = Counter("consentry_grpc_calls", "Calls finished, by method and gRPC status code", ["method", "code"])
CALL_SECONDS = Histogram("consentry_grpc_call_duration_seconds", "Time from a call's arrival to its status",
                         ["method"], buckets=_CALL_BUCKETS)

DISCLOSURES = Counter("consentry_disclosures", "Records a fetch decided, by outcome (shared or withheld)",
                      ["outcome"])
SHARED, WITHHELD = "shared", "withheld"

POLICY_SECONDS = Histogram("consentry_policy_evaluation_seconds",
                           "Time the policy engine took for one decision call (a batch counts once)",
                           ["call"], buckets=_FAST_BUCKETS)

LEDGER_ENTRIES = Gauge("consentry_ledger_entries", "Entries in the ledger as of the last append or checkpoint",
                       multiprocess_mode="max")
LEDGER_APPEND_SECONDS = Histogram("consentry_ledger_append_seconds",
                                  "Time to write one transaction's ledger entries at its commit",
                                  buckets=_FAST_BUCKETS)
LEDGER_APPEND_BATCH = Histogram("consentry_ledger_append_batch_entries",
                                "Ledger entries one transaction appended", buckets=_BATCH_BUCKETS)
CHECKPOINT_TIME = Gauge("consentry_ledger_checkpoint_timestamp_seconds",
                        "When the latest signed checkpoint was cut (Unix time)", multiprocess_mode="max")
CHECKPOINT_ENTRIES = Gauge("consentry_ledger_checkpoint_entries", "Tree size of the latest signed checkpoint",
                           multiprocess_mode="max")

DB_IN_USE = Gauge("consentry_db_connections_in_use", "Database connections checked out of the pool",
                  ["pool"], multiprocess_mode="livesum")
DB_POOL_SIZE = Gauge("consentry_db_pool_size", "Connections the pool keeps (overflow not counted)",
                     ["pool"], multiprocess_mode="livesum")
