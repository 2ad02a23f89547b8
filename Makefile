# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench spec vectors clean

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

vectors: $(STAMP)
	$(BIN)/python protocol_spec/tools/generate.py
	$(BIN)/python protocol_spec/tools/verify_independent.py

spec: $(STAMP)
	$(BIN)/python protocol_spec/tools/build_spec.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
