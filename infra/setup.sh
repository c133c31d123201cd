#!/usr/bin/env bash
# Prepare this machine for SignalPost, idempotently: Java 17 and Maven (for Kafka's jars),
# PostgreSQL's server binaries and Chromium (Debian packages, installed when run as root), and the
# project's virtual environment (.venv) with `pip install -e '.[dev]'`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
# The auditor's HTML report is checked in a real headless browser.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The Alertmanager intake is tested against the real Prometheus Alertmanager.
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "please install: ${missing[*]} (Debian: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python=$candidate
    break
  fi
done
[[ -n $python ]] || { say "Python 3.11 or newer is needed"; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $python"
  "$python" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
if [[ ! -f .venv/.installed || pyproject.toml -nt .venv/.installed ]]; then
  say "installing SignalPost and its dependencies into .venv"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[dev]'
  touch .venv/.installed
fi
