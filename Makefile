# make demo | make test | make install
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) -e '.[test]'
	@$(BIN)/python -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit(0 if v.endswith('+cpu') or torch.cuda.is_available() else 'expected the CPU build of torch (constraints.txt), got ' + v)"

demo: install
	rm -rf demo-data/digits demo-runs/digits
	$(BIN)/lamina datasets make digits --output demo-data/digits
	$(BIN)/lamina train demo-data/digits --output demo-runs/digits
	$(BIN)/lamina evaluate demo-runs/digits demo-data/digits --split test
	$(BIN)/lamina predict demo-runs/digits demo-data/digits/test/3/$$(ls demo-data/digits/test/3 | head -n 1)

test: install
	$(BIN)/python -m pytest -q

# Needs Debian's wrk for the serving benchmark (apt-get install wrk). Rewrites benchmarks/RESULTS.md.
bench: install
	$(PIP) -e '.[test,bench]'
	{ echo "# Benchmark results"; echo; echo "Written by \`make bench\` on $$(date -u +%F), $$(nproc) cores, $$(uname -m)."; \
	  echo; echo "## Training throughput (benchmarks/train_throughput.py)"; echo; $(BIN)/python benchmarks/train_throughput.py; \
	  echo; echo "## Serving (benchmarks/serve_throughput.py)"; echo; $(BIN)/python benchmarks/serve_throughput.py; } > benchmarks/RESULTS.md.tmp
	mv benchmarks/RESULTS.md.tmp benchmarks/RESULTS.md
	cat benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) demo-data demo-runs build src/*.egg-info
