#!/usr/bin/env bash
# The test command: installs what the tests need (Debian's haproxy, graphviz and chromium; Python packages into .venv),
# then runs ruff, mypy and the whole pytest suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_get ARGS...: apt-get, tried again while another apt-get or dpkg holds its lock (up to 5 min)
apt_get() {
  local out attempt
  for attempt in $(seq 1 60); do
    if out=$(DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not get lock|unable to acquire|another process' <<<"$out"; then
      echo "$out" >&2
      return 1
    fi
    echo "apt is busy (attempt $attempt: another process holds its lock); trying again in 5 s" >&2
    sleep 5
  done
  echo "$out" >&2
  return 1
}

# install_missing WHAT-SKIPS PACKAGE...: installs Debian packages when run as root with apt-get, else warns
install_missing() {
  local skips=$1
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* (apt-get)"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "$@"
  else
    echo "warning: $* missing and cannot be installed here; $skips will skip" >&2
  fi
}

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  install_missing "tests marked haproxy" haproxy
fi
# Graphviz' dot renders `trireme chronos graph --svg` (its test skips without it)
if ! command -v dot >/dev/null 2>&1; then
  install_missing "the graph --svg test" graphviz
fi
# Debian's chromium runs the web UI's browser tests (Playwright drives it; no browser is downloaded)
if [ ! -x /usr/bin/chromium ]; then
  install_missing "tests marked browser" chromium fonts-dejavu-core
fi

# Playwright (the test extra) drives that chromium; it must never fetch a browser of its own
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# Bytecode is cached (some environments set PYTHONDONTWRITEBYTECODE): without it every server,
# CLI and launcher the tests start compiles the sources again, and every worker rewrites the
# test modules' asserts again.
unset PYTHONDONTWRITEBYTECODE
# three workers (pytest-xdist): most tests wait on real servers and processes, so three share 2
# cores well; tests take free ports and their own data dirs, so they can run side by side. Each
# file stays on one worker, in order (--dist loadfile): a module's shared server (the web UI's
# tests build on what the test before made) and its once-built wheel are made once. Files are
# handed out longest first (--no-loadscope-reorder keeps the order tests/support/ordering.py
# gives). `-n 0` runs one.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder "$@"
