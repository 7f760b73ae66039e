#!/usr/bin/env bash
# The demo over Kerberos: a throwaway MIT realm (krb5kdc on a loopback port,
# realm IDCONN.TEST), the Exchange simulator accepting Kerberos with the
# HTTP/localhost key, and idconn exporting over a sealed session: first with
# a ticket from kinit, then with Login + Password (a private ticket).
# Everything lives in .demo-kerberos/ (ignored by git); the KDC and the
# simulator stop at exit. The realm's variables are set for this script's
# processes only.
set -euo pipefail
cd "$(dirname "$0")/.."

idconn=target/debug/idconn
sim=target/debug/exchange-sim
realm_bin=target/debug/krb5-realm
demo=.demo-kerberos
rm -rf "$demo" && mkdir -p "$demo"

realm_pid=""
sim_pid=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null || true
  # Closing its stdin stops the realm (KDC stopped, directory removed).
  exec 4>&- 2>/dev/null || true
  [[ -n "$realm_pid" ]] && wait "$realm_pid" 2>/dev/null || true
}
trap cleanup EXIT

# The realm prints NAME=VALUE lines, then READY, and runs until its stdin
# closes (fd 4 here).
mkfifo "$demo/realm.in"
"$realm_bin" --kinit admin <"$demo/realm.in" >"$demo/realm.env" 2>"$demo/realm.log" &
realm_pid=$!
exec 4>"$demo/realm.in"
for _ in $(seq 1 300); do
  grep -q '^READY$' "$demo/realm.env" 2>/dev/null && break
  kill -0 "$realm_pid" 2>/dev/null || { echo "demo: the realm did not start; see $demo/realm.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^READY$' "$demo/realm.env" || { echo "demo: the realm did not start in time" >&2; exit 1; }
while IFS='=' read -r name value; do
  [[ "$name" == READY ]] && break
  export "$name=$value"
done <"$demo/realm.env"

echo "== a throwaway Kerberos realm: $KRB5_REALM (config $KRB5_CONFIG)"
klist
echo

exec 3< <(exec "$sim" --listen 127.0.0.1:0 --mailboxes 1000 --databases 5 --seed 7 \
    --auth kerberos --keytab "$KRB5_SERVICE_KEYTAB" 2>>"$demo/simulator.log")
sim_pid=$!
if ! read -r -t 30 url <&3; then
  echo "demo: the simulator did not start; see $demo/simulator.log" >&2
  exit 1
fi
echo "== the Exchange simulator listens on $url, Kerberos only (SPN HTTP/localhost), every message sealed"
echo

write_settings() {
  cat > "$demo/appsettings.agent.json" <<JSON
{
  "TempFolderPath": "Temp",
  "WorkFolderPath": "Work",
  "ComponentPath": "$PWD/components/target/wasm32-wasip2/release/exchange.wasm",
  "Connections": {
    "ExchangeDemo": {
      "ConfigurationName": "Microsoft.Exchange",
      "Grants": $(cat examples/exchange-grants.json),
      "AuthType": "Kerberos",
      "Server": "$url"$1
    }
  }
}
JSON
}
settings="$demo/appsettings.agent.json"

write_settings ""
echo "== idconn check, with admin's ticket from the cache (kinit)"
"$idconn" check --settings "$settings" --connection ExchangeDemo
echo
echo "== complete export over the sealed Kerberos session"
"$idconn" export --settings "$settings" --connection ExchangeDemo 2>"$demo/export.log" | grep -v '^Progress:'
echo
echo "== a few rows of ExchangeDemo_mailboxes.csv (Command, Database, EmailAddresses)"
head -n 4 "$demo/Temp/ExportOutput/ExchangeDemo_mailboxes.csv" | cut -d, -f1-3
echo
echo "== incremental export with Login + Password instead of the cache: reader gets a private ticket (the cache was emptied)"
kdestroy -q
write_settings ",
      \"Login\": \"reader@$KRB5_REALM\",
      \"Password\": \"Reader-Kerberos-1\""
"$idconn" export --settings "$settings" --connection ExchangeDemo 2>>"$demo/export.log" | grep -v '^Progress:'
echo
echo "== a wrong password: the error says what to fix"
write_settings ",
      \"Login\": \"reader\",
      \"Password\": \"not-the-password\""
"$idconn" export --settings "$settings" --connection ExchangeDemo 2>&1 | grep -v '^Progress:' | tail -n 1 || true
echo
echo "CSV files:  $(realpath "$demo/Temp/ExportOutput")"
