# Set-up from nothing on Debian/Ubuntu: a virtualenv with the project, and
# Prometheus and Alertmanager from the OS packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test gameday bench lint monitoring browser venv clean

test: $(STAMP) monitoring browser
	$(BIN)/ruff check harness mocks tests bench
	$(BIN)/pytest -q -n 3 --dist worksteal --durations=25 -m "ci or not experiment" tests experiments

# The harness prints the game day page's path as its last line. It exits with
# the worst verdict (1 failed, 2 error); make turns any failure into exit 2.
gameday: $(STAMP) monitoring
	$(BIN)/harness gameday experiments

bench: $(STAMP) monitoring
	$(BIN)/python -m bench

# Only the virtualenv with the project, for using the harness by hand.
venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check harness mocks tests bench
	$(BIN)/ruff format --check harness mocks tests bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Prometheus and Alertmanager are real parts of every experiment: install them
# from the OS packages when missing and we may, otherwise say how.
monitoring:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing promtool"; \
	command -v amtool >/dev/null || missing="$$missing amtool"; \
	command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null \
		|| missing="$$missing alertmanager"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Prometheus and Alertmanager (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	else \
		echo "Missing:$$missing. Experiments need a real Prometheus and Alertmanager."; \
		echo "  Debian/Ubuntu: sudo apt-get install --no-install-recommends prometheus prometheus-alertmanager"; \
		echo "  macOS:         brew install prometheus alertmanager"; \
		exit 1; \
	fi

# The report.html tests open each page in headless Chromium: install Debian's
# chromium when missing and we may, otherwise say how.
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (for the report.html tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium >/dev/null; \
	else \
		echo "Missing: /usr/bin/chromium. The report.html tests open pages in it."; \
		echo "  Debian/Ubuntu: sudo apt-get install --no-install-recommends chromium"; \
		exit 1; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
