# Entry points: `make demo` builds everything from a fresh clone; `make test` runs the fast tier.
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: demo pull test test-all lint bench bench-scale readme-figures reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	. $(BIN)/activate && snakemake results/cornet/top1.png --cores 8 --resources gpu=1

pull: $(STAMP)
	. $(BIN)/activate && visionflow dvc pull

# The fast tier: what a user runs after cloning (minutes on 2 cores, installs nothing).
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not slurm"

# The full tier (CI): whole DAG, DVC round trips, kill points, disk-full, a SLURM cluster
# (as root: installs slurm-wlm with apt-get and writes /etc/slurm).
test-all: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/snakefmt --check workflow/Snakefile workflow/rules
	. $(BIN)/activate && snakemake --lint

reliability: $(STAMP)
	VISIONFLOW_WRITE_RELIABILITY=1 $(PY) -m pytest -q tests/faults/test_bad_inputs.py

# The README's demo figures and numbers from the code as it is: the whole demo, then
# docs/figures/*.png and the marked numbers in README.md (tools/readme_figures.py).
readme-figures: $(STAMP)
	. $(BIN)/activate && snakemake all --cores 8 --resources gpu=1 && python tools/readme_figures.py

# The SLR loader at the paper setting: 640x480 videos, 8 clips of 32 frames of 224 from 256.
SLR_PAPER := --videos paper --glosses 5 --per-gloss 8 --size 256 --num-frames 32 \
  --batch-size 8 --batches 4 --repeats 3

bench: $(STAMP)
	. $(BIN)/activate && python bench/data_loading.py \
	  && python bench/data_loading.py --workers 2 --out bench/results/data_loading_2workers.json \
	  && python bench/jacquard_maps.py && python bench/video_decoding.py \
	  && python bench/slr_loader.py \
	  && python bench/slr_loader.py $(SLR_PAPER) --out bench/results/slr_loader_paper.json \
	  && python bench/slr_loader.py $(SLR_PAPER) --workers 2 \
	    --out bench/results/slr_loader_paper_2workers.json \
	  && python bench/annotation_table.py && python bench/hpo_parallel.py \
	  && python bench/dag_dry_run.py && python bench/demo_wall_time.py \
	  && python bench/dvc_cache.py && python bench/report.py

# Conversion cost at paper scale (synthetic raw data, two sizes each; 8 minutes on 2 busy cores).
bench-scale: $(STAMP)
	. $(BIN)/activate && python bench/scale.py && python bench/report.py

clean:
	rm -rf data results logs benchmarks .snakemake report.html
