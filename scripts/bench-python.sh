#!/usr/bin/env bash
# The Python connector against the Rust one, on the same host build and the
# same simulator: component size, first compilation (time, peak RSS,
# compiled size), load from the compile cache, a `check` (process start,
# load from cache, instantiate, one pipeline), and a complete export.
# Prints a Markdown section for BENCHMARKS.md.
#
#   scripts/bench-python.sh [--profile release|debug] [--mailboxes N] [--runs N]
#
# Needs `just build` (debug) or `just bench`'s release build, and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release mailboxes=10000 runs=3
while (($#)); do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --mailboxes) mailboxes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

idconn=target/$profile/idconn
sim=target/$profile/exchange-sim
rust=components/target/wasm32-wasip2/release/exchange.wasm
python=components/target/python/quota-report.wasm
for f in "$idconn" "$sim" "$rust" "$python"; do
  [[ -f $f ]] || { echo "bench-python: $f is missing (just build, or the release build of just bench)" >&2; exit 1; }
done

work=$(mktemp -d)
sim_pid=
cleanup() { [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

# First compilation, in a fresh cache each run.
compile_figures() { # component -> "seconds peakKiB compiledBytes"
  local times=() rss=() size=
  for ((i = 0; i < runs; i++)); do
    rm -rf "$work/cold"
    /usr/bin/time -f '%e %M' -o "$work/time" "$idconn" compile "$1" --cache "$work/cold" >/dev/null
    read -r t m <"$work/time"
    times+=("$t") rss+=("$m")
    size=$(stat -c %s "$work"/cold/*.cwasm)
  done
  echo "$(printf '%s\n' "${times[@]}" | median) $(printf '%s\n' "${rss[@]}" | median) $size"
}

# Reading the compiled component back (what every job does once warm), as
# `idconn compile` reports it: deserialize and link, no process start.
cached_figures() { # component -> seconds
  "$idconn" compile "$1" --cache "$work/warm" >/dev/null
  for ((i = 0; i < runs; i++)); do
    "$idconn" compile "$1" --cache "$work/warm" | sed -E 's/.* read in ([0-9.]+) s.*/\1/'
  done | median
}

"$sim" --listen 127.0.0.1:0 --mailboxes "$mailboxes" --databases 10 --seed 1 --auth basic \
  >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for ((i = 0; i < 600; i++)); do
  url=$(head -n1 "$work/sim.out" 2>/dev/null || true)
  [[ $url == http://* ]] && break
  sleep 0.1
done
[[ ${url:-} == http://* ]] || { echo "bench-python: the simulator did not start" >&2; exit 1; }

cat >"$work/appsettings.agent.json" <<JSON
{
  "TempFolderPath": "Temp", "WorkFolderPath": "Work",
  "ComponentCachePath": "$work/warm",
  "Connections": {
    "Rust": { "AuthType": "HttpBasic", "Server": "$url", "Login": "admin", "Password": "admin",
              "AllowUnencrypted": true, "ComponentPath": "$PWD/$rust" },
    "Python": { "AuthType": "HttpBasic", "Server": "$url", "Login": "admin", "Password": "admin",
                "AllowUnencrypted": true, "ComponentPath": "$PWD/$python" }
  }
}
JSON

job_seconds() { # operation connection -> median wall seconds
  for ((i = 0; i < runs; i++)); do
    local extra=()
    [[ $1 == export ]] && extra=(--ignore-cookies --output-path "$work/out-$2" --cookie-path "$work/cookies-$2")
    /usr/bin/time -f '%e' -o "$work/time" "$idconn" "$1" --settings "$work/appsettings.agent.json" \
      --connection "$2" "${extra[@]}" >"$work/$1-$2.log" 2>&1
    cat "$work/time"
  done | median
}

read -r rc_s rc_kib rc_size <<<"$(compile_figures "$rust")"
read -r pc_s pc_kib pc_size <<<"$(compile_figures "$python")"
r_cached=$(cached_figures "$rust")
p_cached=$(cached_figures "$python")
r_check=$(job_seconds check Rust)
p_check=$(job_seconds check Python)
r_export=$(job_seconds export Rust)
p_export=$(job_seconds export Python)
rows=$(($(wc -l <"$work/out-Python/Python_quotas.csv") - 1))
[[ $rows == "$mailboxes" ]] || { echo "bench-python: the Python export wrote $rows rows, not $mailboxes" >&2; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }
rate() { awk -v n="$mailboxes" -v s="$1" 'BEGIN {printf "%.0f", n / s}'; }
cat <<MD
## Python connector (components/python/quota-report) against the Rust one

\`scripts/bench-python.sh --profile $profile --mailboxes $mailboxes --runs $runs\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)); $profile build of idconn, the same simulator (\`--mailboxes $mailboxes --databases 10 --seed 1\`) and compile cache for both; medians of $runs runs. The Rust connector exports 42 mailbox columns and the databases; the Python one writes 8 columns of mailboxes.

| | Rust (exchange.wasm) | Python (quota-report.wasm) | Python / Rust |
|---|---|---|---|
| component size | $(mib "$(stat -c %s "$rust")") MiB | $(mib "$(stat -c %s "$python")") MiB | $(ratio "$(stat -c %s "$python")" "$(stat -c %s "$rust")") |
| first compilation (\`idconn compile\`, cold cache) | $rc_s s | $pc_s s | $(ratio "$pc_s" "$rc_s") |
| peak RSS of that compilation | $(mib $((rc_kib * 1024))) MiB | $(mib $((pc_kib * 1024))) MiB | |
| compiled size in the cache | $(mib "$rc_size") MiB | $(mib "$pc_size") MiB | |
| load from the cache (deserialize + link) | $r_cached s | $p_cached s | |
| \`idconn check\` (process, load from cache, instantiate, one pipeline) | $r_check s | $p_check s | |
| complete export, $mailboxes mailboxes | $r_export s ($(rate "$r_export") mailboxes/s) | $p_export s ($(rate "$p_export") mailboxes/s) | $(ratio "$p_export" "$r_export") |
MD
