# Entry points: `make demo`, `make test`, and `make check` for the quick loop while working (see README.md).
# Everything else is their plumbing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Debian packages the test suite needs; installed when missing and we run as root.
SYSTEM_PACKAGES := libusb-1.0-0 libudev1 systemd postgresql chromium fonts-wqy-microhei \
  cage debhelper dh-virtualenv python3-venv lintian adb dpkg-repack

.PHONY: demo test check lint typecheck pytest pytest-quick system-deps bench clean deb lintian

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(PY) -m cabinetd.demo

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages (run as root to install):$$missing"; \
	  fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	@# Dead code at confidence 60 in everything but the tests; the tests count as users (the simulator's
	@# fault injection is there for them). vulture_whitelist.py says why each name it lists is alive.
	@dead=$$($(VENV)/bin/vulture cabinetd cabinetcloud cabinetproto testbed bench tests vulture_whitelist.py \
	  --min-confidence 60 | grep -v '^tests/'); if [ -n "$$dead" ]; then echo "$$dead"; exit 1; fi

typecheck: $(STAMP)
	$(VENV)/bin/mypy $(wildcard cabinetd cabinetcloud cabinetproto testbed bench) vulture_whitelist.py

pytest: $(STAMP)
	$(PY) -m pytest -q

# Everything but the tests marked slow (soaks, crash and power-loss runs, the stateful model, the
# browser screens, the cloud on PostgreSQL): `make test` still runs them all. Four workers on two cores,
# because much of what is left waits on real time (lock pulses, poll intervals) rather than on the CPU.
pytest-quick: $(STAMP)
	@# Bytecode kept even where the shell says not to: compiling and rewriting every module again in each
	@# worker costs more than the quick tests themselves.
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -n 4 --dist worksteal -m "not slow"

test: system-deps lint typecheck pytest

check: lint typecheck pytest-quick

# The cabinet's Debian packages (docs/packaging.md), built from a copy of the tracked files in
# $(DEB_OUT)/src so that the checkout gets no debian/ build litter; the .debs land in $(DEB_OUT).
# DEB_VERSION overrides the version (tests/packaging builds a second, higher one to upgrade to);
# RELEASE_KEY_PUB the release key the package trusts (the tests build with a pair of their own).
# pip's cache is kept in build/pip-cache across builds and out directories. DEB_COMPRESS=gzip packs
# in 4 s what xz (the default: a quarter smaller, for the fleet's downloads) packs in 30; zstd is
# faster still, but bookworm's lintian cannot read it.
DEB_COMPRESS ?= xz
DEB_VERSION ?= $(shell sed -n 's/^version = //p' setup.cfg)
DEB_OUT ?= build/deb
# The fleet's release public key, installed as /usr/share/cabinetd/release-key.pub: the update helper
# installs only packages signed with its private half (docs/packaging.md, "The update helper").
RELEASE_KEY_PUB ?= deploy/release-key.pub
DEB_SRC = $(DEB_OUT)/src/cabinetd-$(DEB_VERSION)

deb: system-deps
	rm -rf $(DEB_OUT)/src && mkdir -p $(DEB_SRC)
	git ls-files -z --cached --others --exclude-standard -- . ':!.venv' | \
	  xargs -0 sh -c 'for f; do [ -e "$$f" ] || [ -L "$$f" ] && printf "%s\0" "$$f"; done' _ | \
	  tar --null -T - -cf - | tar -xf - -C $(DEB_SRC)
	sed -i '1s/([^)]*)/($(DEB_VERSION))/' $(DEB_SRC)/debian/changelog
	install -m 0644 $(RELEASE_KEY_PUB) $(DEB_SRC)/debian/release-key.pub
	cd $(DEB_SRC) && PIP_CACHE_DIR=$(abspath build/pip-cache) DEB_COMPRESS=$(DEB_COMPRESS) \
	  dpkg-buildpackage --build=binary --no-sign --no-pre-clean >../build.log 2>&1 \
	  || { tail -40 ../build.log; exit 1; }
	mv $(DEB_OUT)/src/*.deb $(DEB_OUT)/
	rm -rf $(DEB_SRC)
	@ls -l $(DEB_OUT)/*_$(DEB_VERSION)_*.deb

# The packages' lintian report; errors fail, warnings are explained in docs/packaging.md.
lintian:
	lintian --fail-on error --info $(DEB_OUT)/*_$(DEB_VERSION)_*.deb

bench: $(STAMP)
	$(PY) -m bench all --json

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
