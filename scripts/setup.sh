#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine with rustup and Python lacks for
# building, testing and demonstrating idconn. Idempotent: installs only
# what is missing, so a second run takes seconds.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  log "adding the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2
fi

# krb5: the Kerberos client library (GSSAPI) and a real KDC for the tests;
# libclang: bindgen for the GSSAPI bindings; libxml2-utils: xmllint for the
# CLIXML benchmark baseline.
packages=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev libclang-dev libxml2-utils pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Third-party clients the tests check the simulator against.
if ! python3 -c 'import pypsrp, pytest, spnego, gssapi' 2>/dev/null; then
  log "installing Python test clients (pypsrp, pyspnego[kerberos], pytest)"
  python3 -m pip install -q --disable-pip-version-check pypsrp 'pyspnego[kerberos]' pytest
fi

# componentize-py builds the Python connector (components/python/quota-report).
# Pinned: another version may produce another component ABI or stdlib.
COMPONENTIZE_PY_VERSION=0.25.1
if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('componentize-py') != '$COMPONENTIZE_PY_VERSION')" 2>/dev/null; then
  log "installing componentize-py $COMPONENTIZE_PY_VERSION"
  python3 -m pip install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
