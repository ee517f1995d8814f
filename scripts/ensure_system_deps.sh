#!/usr/bin/env bash
# Installs what EStore needs from the OS when it is missing: python3-venv, and the PostgreSQL
# and Redis server binaries (the tests and `estore up` run their own throwaway servers).
# With --python-only it checks just what creating the virtual environment needs.
set -euo pipefail

missing=()
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
if [[ "${1:-}" != "--python-only" ]]; then
  if ! command -v redis-server >/dev/null && [[ ! -x /usr/bin/redis-server ]]; then
    missing+=(redis-server)
  fi
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
     && ! { command -v initdb >/dev/null && command -v postgres >/dev/null; }; then
    missing+=(postgresql)
  fi
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "estore: installing missing system packages: ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
elif command -v sudo >/dev/null && [[ -t 0 ]]; then
  echo "estore: sudo will ask for your password to install them" >&2
  sudo=(sudo)
else
  echo "estore: cannot install them without root. Please run:" >&2
  echo "    sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "estore: no apt-get here. Install these with your package manager: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
