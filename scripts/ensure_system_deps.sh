#!/usr/bin/env bash
# Installs what EStore needs from the OS when it is missing: python3-venv, and the PostgreSQL
# and Redis server binaries (the tests and `estore up` run their own throwaway servers).
# With --python-only it checks just what creating the virtual environment needs.
# With --clients it also installs what the client checks of `make test` need: Node.js and npm
# (clients/node), and protoc with the Go and Java plugins (buf.gen.go.yaml, buf.gen.java.yaml).
set -euo pipefail

mode="${1:-}"
missing=()
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
if [[ "$mode" != "--python-only" ]]; then
  if ! command -v redis-server >/dev/null && [[ ! -x /usr/bin/redis-server ]]; then
    missing+=(redis-server)
  fi
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
     && ! { command -v initdb >/dev/null && command -v postgres >/dev/null; }; then
    missing+=(postgresql)
  fi
fi
if [[ "$mode" == "--clients" ]]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v protoc >/dev/null || missing+=(protobuf-compiler)
  command -v protoc-gen-go >/dev/null || missing+=(protoc-gen-go)
  command -v protoc-gen-go-grpc >/dev/null || missing+=(protoc-gen-go-grpc)
  command -v grpc_java_plugin >/dev/null || missing+=(protobuf-compiler-grpc-java-plugin)
fi

sudo_prefix() {
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  elif command -v sudo >/dev/null && [[ -t 0 ]]; then
    echo "estore: sudo will ask for your password to install them" >&2
    sudo=(sudo)
  else
    echo "estore: cannot install them without root. Please run:" >&2
    echo "    sudo apt-get install -y $*" >&2
    exit 1
  fi
}

install() {
  [[ $# -eq 0 ]] && return 0
  echo "estore: installing missing system packages: $*" >&2
  sudo_prefix "$@"
  if ! command -v apt-get >/dev/null; then
    echo "estore: no apt-get here. Install these with your package manager: $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

install "${missing[@]}"
# Some builds of the nodejs package carry npm, Debian's does not: ask for it only if still missing.
if [[ "$mode" == "--clients" ]] && ! command -v npm >/dev/null; then
  install npm
fi
