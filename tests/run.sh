#!/usr/bin/env bash
# The test command: installs what the tests need (Debian's haproxy and graphviz; Python packages into .venv),
# then runs ruff, mypy and the whole pytest suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# install_missing PACKAGE WHAT-SKIPS: installs a Debian package when run as root with apt-get, else warns
install_missing() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $1 (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "warning: $1 is missing and cannot be installed here; $2 will skip" >&2
  fi
}

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  install_missing haproxy "tests marked haproxy"
fi
# Graphviz' dot renders `trireme chronos graph --svg` (its test skips without it)
if ! command -v dot >/dev/null 2>&1; then
  install_missing graphviz "the graph --svg test"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
