# Two commands from a fresh clone: `make run` and `make test` (each installs first if needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run retrain test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# A second `make run` keeps the earlier one (renamed with its time) and starts training from the warm cache.
run: $(STAMP)
	@if [ -e runs/quick ]; then old=runs/quick.$$(date +%Y%m%d-%H%M%S); mv runs/quick $$old; echo "kept the earlier run in $$old"; fi
	$(PY) -m experiments.run --preset quick --actor mlp,diffusion --apg_reference mlp --seeds 2 --out runs/quick

# Retraining after a 6 dB noise drift, both actors, 3 seeds (docs/retrain.md; 34 min on 2 cores).
retrain: $(STAMP)
	$(PY) -m experiments.retrain --drift noise --grid action_exp --seeds 3

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) -m benchmarks.env_throughput
	$(PY) -m benchmarks.diffusion_sampler
	$(PY) -m benchmarks.epoch_time

# ruff, and the import-layer contract of pyproject.toml ([tool.importlinter]; docs/architecture.md).
lint: $(STAMP)
	$(PY) -m ruff check d2rl_jax experiments benchmarks tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
