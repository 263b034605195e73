# One command sets everything up and runs the main job (`make demo`); one runs the tests (`make test`).
# Both work on a fresh Debian 12 machine: `make setup` installs the Debian packages that are missing
# (apt-get, needs root or sudo) and a .venv with the project installed editable.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages the project needs: a Python with venv and headers (systemd-python builds from source),
# OpenBLAS for PyTensor's C backend, systemd/journald and sshd for the tests with real parts,
# the Debian packaging tools, and fonts for the synthetic training characters.
APT_PACKAGES := python3 python3-venv python3-dev gcc g++ make pkg-config libsystemd-dev libopenblas-dev \
	systemd openssh-server openssh-client sudo sqlite3 lintian dpkg-dev debhelper fakeroot \
	fonts-dejavu-core fonts-liberation fonts-freefont-ttf \
	python3-systemd binutils xz-utils man-db adduser init-system-helpers

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup apt venv test demo bench crossval robustness deb train clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[journal,train,test,jax]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/anpr-device demo

# The training benchmark compares against PyTorch (torch==2.13.0): a benchmark-only extra.
bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks.run $(BENCH)

# Held-out accuracy with and without training on crops of the annotated dev photos (~10 min, 3 trainings).
crossval: setup
	$(PY) -m benchmarks.crossval $(CROSSVAL_ARGS)

# Exact accuracy on changed copies of the dev photos: shrunk, enlarged, blurred, darker (~2 min).
robustness: setup
	$(PY) -m benchmarks.robustness

# dist/anpr-device_<version>_<arch>.deb for this machine (packaging/README.md; DEB_XZ_LEVEL=6 for a smaller file).
deb: setup
	$(PY) packaging/build_deb.py

clean:
	rm -rf $(VENV) build dist *.egg-info bench-results
