#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it.
# This is the README's test command, and .ci/run calls it unchanged. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'

# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download cannot work here).
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core fonts-noto-cjk >/dev/null
  else
    echo "warning: chromium is missing and cannot be installed here; browser tests will be skipped" \
      "(errors when ORGINVITE_REQUIRE_BROWSER=1, as in CI)" >&2
  fi
fi

# The Redis session store's tests run against Debian's redis-server on a free loopback port (started by the tests).
if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's redis-server for the Redis session store tests..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "warning: redis-server is missing and cannot be installed here; the Redis store tests will be skipped" \
      "(errors when ORGINVITE_REQUIRE_REDIS=1, as in CI)" >&2
  fi
fi

.venv/bin/ruff check src tests example_app benchmarks
# Four worker processes (pytest-xdist), each test module on one worker so that its shared servers start once: half
# of a test's time is waiting on loopback servers, subprocesses and Chromium, so four overlap well even on two
# cores (about 4 minutes there, against 11 in one process). ORGINVITE_TEST_WORKERS=0 runs in this process.
exec .venv/bin/python -m pytest -n "${ORGINVITE_TEST_WORKERS:-4}" --dist loadscope "$@"
