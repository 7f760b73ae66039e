#!/usr/bin/env bash
# Builds the Python connector components/python/quota-report with
# componentize-py (installed by scripts/setup.sh) and stamps its manifest
# with `idconn manifest set`. componentize-py builds are not reproducible
# (each build has another sha256), so the build is skipped when its inputs
# did not change: a pin (ComponentSha256) on the built file stays valid.
set -euo pipefail
cd "$(dirname "$0")/.."

src=components/python/quota-report
out=components/target/python
idconn=target/debug/idconn
stamped=$out/quota-report.wasm

[[ -x $idconn ]] || { echo "build-python: $idconn is missing: run \`just build\`" >&2; exit 1; }
mkdir -p "$out"

inputs=("$src"/*.py "$src"/manifest.json wit/since_v0.4.0 scripts/build-python.sh)
if [[ -f $stamped ]] && [[ -z $(find "${inputs[@]}" -newer "$stamped" -print -quit) ]]; then
  echo "build-python: $stamped is up to date" >&2
  exit 0
fi

componentize_py() {
  # Through the interpreter rather than the `componentize-py` script, which
  # pip may have put in a directory that is not on PATH.
  python3 -c 'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())' "$@"
}

componentize_py -d wit/since_v0.4.0 -w connector componentize -p "$src" app \
  -o "$out/quota-report.unstamped.wasm"
"$idconn" manifest set "$out/quota-report.unstamped.wasm" "$src/manifest.json" -o "$stamped"
rm -f "$out/quota-report.unstamped.wasm"
