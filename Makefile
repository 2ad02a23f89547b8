# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench report spec vectors clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,ckks,demo,flower]'
	touch $(STAMP)

# Private federated training on real data with real crypto (examples/private_fedavg): writes runs/<name>/.
demo: $(STAMP)
	$(BIN)/python -m examples.private_fedavg

test: $(STAMP)
	$(BIN)/python -m pytest tests secagg dp --doctest-modules -q -n 2 -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m pytest bench -q --benchmark-columns=median,iqr,rounds --benchmark-sort=name

# bench/report/README.md + PNGs: one side-by-side pytest-benchmark run (CKKS d = 1e6 left out), the DME
# reproduction, the training demo, then build.py. About 10 minutes on a shared 2-core machine; on a quiet
# machine raise the repeats and say so: make report QUIET=1 REPORT_ROUNDS=20 BENCH_REPEATS=5
REPORT_ROUNDS ?= 5
BENCH_REPEATS ?= 2
report: $(STAMP)
	mkdir -p bench/report/raw
	BENCH_REPEATS=$(BENCH_REPEATS) $(BIN)/python -m pytest bench/test_masking.py bench/test_server_sum.py \
		bench/test_ckks.py bench/test_report_scaling.py -q -p no:cacheprovider -k "not 1000000" \
		--benchmark-min-rounds=$(REPORT_ROUNDS) --benchmark-max-time=0.5 --benchmark-columns=median,rounds \
		--benchmark-json=bench/report/raw/benchmarks.json
	$(BIN)/python bench/dme.py --repeats 5 --out bench/report
	$(BIN)/python -m examples.private_fedavg --out runs
	$(BIN)/python bench/report/build.py --runs runs $(if $(QUIET),--quiet-machine)

vectors: $(STAMP)
	$(BIN)/python protocol_spec/tools/generate.py
	$(BIN)/python protocol_spec/tools/verify_independent.py

spec: $(STAMP)
	$(BIN)/python protocol_spec/tools/build_spec.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
