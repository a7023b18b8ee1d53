#!/usr/bin/env bash
# Installs everything the tests and the demo need: a virtualenv with the Python requirements, and the Debian
# packages used by tests (docker-compose to validate the compose file, Chromium for the dashboard tests).
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python requirements"
  .venv/bin/pip install -q --disable-pip-version-check -U pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# Hangul glyphs for the dashboard screenshots (headless Chromium has no CJK font otherwise).
[ -d /usr/share/fonts/truetype/nanum ] || need+=(fonts-nanum)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian packages: ${need[*]}"
    # Wait for another apt/dpkg run (e.g. unattended upgrades) instead of failing on its lock.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]} (install them with apt-get as root); tests that need them will skip" >&2
  fi
fi
echo "==> bootstrap done"
