#!/usr/bin/env bash
# The demo: an export of Exchange mailboxes and databases through the
# sandboxed Exchange component. Everything lives in .demo/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

idconn=target/debug/idconn
demo=.demo
rm -rf "$demo" && mkdir -p "$demo"

cat > "$demo/appsettings.agent.json" <<JSON
{
  "TempFolderPath": "Temp",
  "WorkFolderPath": "Work",
  "Connections": {
    "ExchangeDemo": {
      "AuthType": "Replay",
      "Server": "../examples/replay/exchange-v1.json"
    }
  }
}
JSON

echo "== the component"
"$idconn" inspect components/target/wasm32-wasip2/release/exchange.wasm | head -5
echo
echo "== complete export"
"$idconn" export --settings "$demo/appsettings.agent.json" --connection ExchangeDemo
echo
echo "== the directory changes, then an incremental export"
sed -i 's#exchange-v1.json#exchange-v2.json#' "$demo/appsettings.agent.json"
"$idconn" export --settings "$demo/appsettings.agent.json" --connection ExchangeDemo
echo
echo "== what changed (ExportOutput/ExchangeDemo_mailboxes.csv, first columns)"
cut -d, -f1-3 "$demo/Temp/ExportOutput/ExchangeDemo_mailboxes.csv"
echo
echo "CSV files:  $(realpath "$demo/Temp/ExportOutput")"
echo "cookie:     $(realpath "$demo/Work/ExportCookies")"
