# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-pkcs11 venv serve proto proto-check lint bench clean

venv: $(STAMP)

# The server extra, the tests and the stub generator: everything demo, test and proto need.
# setuptools notes on every editable install of a package-dir layout that it goes through an
# import hook; that note asks nothing of us, so it is filtered (and only it).
# OPA's own evaluator, the tests' reference engine (tests/policy/opa_reference.py), is installed
# apart: it declares Python >= 3.14 but runs on 3.11, which an extra cannot say.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[server,test,dev]'
	$(BIN)/pip install --quiet --ignore-requires-python 'opa-golib-python-bindings==0.4.4'
	touch $(STAMP)

demo: venv
	$(BIN)/consentry demo

test: venv
	$(BIN)/pytest -q

# The suites that sign, seal and open with the service's keys, again with every harness's keys in a
# SoftHSM token (Debian's softhsm2; docs/keys.md). `make test` runs the token's own tests already.
KEY_SUITES = tests/services/crypto tests/services/identity tests/services/domain/test_operator_key_rotation.py \
	tests/services/api/test_exchange.py \
	tests/services/api/test_consent_receipts.py tests/services/api/test_rights.py tests/services/api/test_audit.py \
	tests/services/cli/test_ledger_key_rotation.py tests/services/domain/test_authenticated_metadata.py \
	tests/services/cli/test_share_key_rotation.py
test-pkcs11: venv
	CONSENTRY_TEST_KEY_PROVIDER=pkcs11 $(BIN)/pytest -q $(KEY_SUITES)

serve: venv
	$(BIN)/consentry serve --init

# Regenerate the Python stubs and the descriptor set from proto/ (grpcio-tools is pinned, so output
# is reproducible).
proto: venv
	rm -f gen/consentry/v1/*_pb2*.py gen/consentry/v1/*_pb2*.pyi gen/consentry/v1/descriptors.binpb
	$(BIN)/python -m grpc_tools.protoc -I proto \
	    --python_out=gen --pyi_out=gen --grpc_python_out=gen \
	    proto/consentry/v1/*.proto
	# The same files with their comments, for the server's reflection (services/api/reflection.py).
	$(BIN)/python -m grpc_tools.protoc -I proto --include_imports --include_source_info \
	    --descriptor_set_out=gen/consentry/v1/descriptors.binpb proto/consentry/v1/*.proto

# Fails when the committed stubs differ from what proto/ generates.
proto-check: proto
	git diff --exit-code -- gen/
	test -z "$$(git status --porcelain -- gen/)"

lint: venv node_modules/.bin/buf
	node_modules/.bin/buf lint
	$(BIN)/ruff check .
	mkdir -p build/typecheck/consentry
	for d in services ledger policy; do ln -sfn ../../../$$d build/typecheck/consentry/$$d; done
	ln -sfn ../../../gen/consentry/v1 build/typecheck/consentry/v1
	$(BIN)/mypy

node_modules/.bin/buf:
	npm install --no-audit --no-fund --silent

# Prints numbers (rates, percentiles, ratios); QUICK=1 for a short run.
bench: venv
	$(BIN)/python benchmarks/policy_bench.py $(if $(QUICK),--rounds 100,)
	$(BIN)/python benchmarks/share_bench.py $(if $(QUICK),--quick,)
	$(BIN)/python benchmarks/ledger_bench.py $(if $(QUICK),--quick,)
	$(BIN)/python benchmarks/fetch_bench.py $(if $(QUICK),--seconds 3,)
	$(BIN)/python benchmarks/e2e_bench.py $(if $(QUICK),--seconds 3,) $(if $(CONSENTRY_TEST_PG_URL),--backend sqlite --backend postgresql,)

clean:
	rm -rf $(VENV) node_modules
