#!/usr/bin/env bash
# The demo: the Exchange simulator with 1,000 mailboxes, and idconn
# exporting from it over HTTP through the sandboxed Exchange component.
# Everything lives in .demo/ (ignored by git); the simulator stops at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

idconn=target/debug/idconn
sim=target/debug/exchange-sim
demo=.demo
rm -rf "$demo" && mkdir -p "$demo"

# The simulator prints its URL on its first line; it picks a free port. Its
# directory persists in a state file, so it can be restarted mid-demo. A move
# request completes 1 s after it is made (Exchange moves asynchronously), so
# the demo's move shows in the export after the restart.
start_simulator() {
  exec 3< <(exec "$sim" --listen 127.0.0.1:0 --mailboxes 1000 --databases 5 --seed 7 \
      --auth basic --move-seconds 1 --state "$demo/sim-state.json" 2>>"$demo/simulator.log")
  sim_pid=$!
  if ! read -r -t 30 url <&3; then
    echo "demo: the simulator did not start; see $demo/simulator.log" >&2
    exit 1
  fi
  cat > "$demo/appsettings.agent.json" <<JSON
{
  "TempFolderPath": "Temp",
  "WorkFolderPath": "Work",
  "ComponentPath": "$PWD/components/target/wasm32-wasip2/release/exchange.wasm",
  "Connections": {
    "ExchangeDemo": {
      "ConfigurationName": "Microsoft.Exchange",
      "Grants": $(cat examples/exchange-grants.json),
      "AuthType": "HttpBasic",
      "Server": "$url",
      "Login": "admin",
      "Password": "admin",
      "AllowUnencrypted": true
    }
  }
}
JSON
}
sim_pid=""
trap '[[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null || true' EXIT
start_simulator
settings="$demo/appsettings.agent.json"

echo "== the Exchange simulator listens on $url (1,000 mailboxes, 5 databases)"
echo
echo "== the connector component"
"$idconn" inspect components/target/wasm32-wasip2/release/exchange.wasm | head -5
echo
echo "== idconn check"
"$idconn" check --settings "$settings" --connection ExchangeDemo
echo
echo "== complete export over HTTP"
"$idconn" export --settings "$settings" --connection ExchangeDemo 2>"$demo/export.log" | grep -v '^Progress:'
echo
echo "== a few rows of ExchangeDemo_mailboxes.csv (Command, Database, EmailAddresses)"
head -n 4 "$demo/Temp/ExportOutput/ExchangeDemo_mailboxes.csv" | cut -d, -f1-3
echo
echo "== idconn fulfill: the sample orders of examples/orders (enable, change addresses, move, disable, new database)"
mkdir -p "$demo/Orders" && cp examples/orders/*.json "$demo/Orders/"
"$idconn" fulfill --settings "$settings" --connection ExchangeDemo --orders "$demo/Orders" \
    --results "$demo/Results/results.csv" 2>"$demo/fulfill.log" | grep -v '^Progress:'
echo
echo "== the results file"
cat "$demo/Results/results.csv"
echo
echo "== the simulator restarts from its state file"
kill "$sim_pid" && wait "$sim_pid" 2>/dev/null || true
start_simulator
echo "listening again on $url"
# Incremental windows are whole seconds: start the next export in a later
# second than the changes.
sleep 1
echo
echo "== incremental export: the orders' effects"
"$idconn" export --settings "$settings" --connection ExchangeDemo 2>>"$demo/export.log" | grep -v '^Progress:'
echo
echo "== ExchangeDemo_mailboxes.csv (Command, SamAccountName, Database, PrimarySmtpAddress)"
python3 - "$demo/Temp/ExportOutput/ExchangeDemo_mailboxes.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    print(f"{r['Command']:7} {r['SamAccountName'] or '-':10} {r['Database'] or '-':5} {r['PrimarySmtpAddress'] or r['Guid']}")
PY
echo
echo "== ExchangeDemo_databases.csv"
cat "$demo/Temp/ExportOutput/ExchangeDemo_databases.csv"
echo
echo "CSV files:  $(realpath "$demo/Temp/ExportOutput")"
echo "cookie:     $(realpath "$demo/Work/ExportCookies")"
