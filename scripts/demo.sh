#!/usr/bin/env bash
# make demo: the supervisor daemon on every example plugin (C++, Python, Node, Go),
# a few calls through it, then it keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
plugvisor="$build/bin/plugvisor"
run="$build/demo"
mkdir -p "$run"
chmod 700 "$run"

export PLUGVISOR_ADMIN_SOCKET="$PWD/$run/admin.sock"
PLUGVISOR_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export PLUGVISOR_ADMIN_TOKEN

out="$run/serve.out"
: >"$out"
"$plugvisor" serve --config examples/demo/plugvisor.jsonc >"$out" &
daemon=$!
stop() {
  if kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for _ in $(seq 1 200); do
  grep -q '^dashboard:' "$out" && break
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "demo: the daemon did not start (its log is above)" >&2
    exit 1
  fi
  sleep 0.1
done
url=$(sed -n 's/^dashboard: *//p' "$out")
[ -n "$url" ] || { echo "demo: the daemon printed no dashboard address" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
call() {  # call CONTRACT TYPE METHOD DATA: `plugvisor call` through the daemon's call broker
  echo "\$ plugvisor call $1 $2 $3 --data '$4'"
  "$plugvisor" call "$1" "$2" "$3" --data "$4" --admin "$PLUGVISOR_ADMIN_SOCKET"
  echo
}

say "plugvisor serve is running (pid $daemon)"
echo "admin socket:  $PLUGVISOR_ADMIN_SOCKET"
echo "dashboard:     $url#token=$PLUGVISOR_ADMIN_TOKEN"
echo "CLI:           $plugvisor status --admin $PLUGVISOR_ADMIN_SOCKET"

say "calls through the daemon (C++, Python, Node, Go plugins)"
call dataProcessor uppercase processData "hello from the demo"
call dataProcessor prefix processData "configured through configTypes"
call dataProcessor word-count processData "the quick brown fox jumps over the lazy dog the end"
call dataProcessor stats processData "3 1 4 1 5 9 2 6"
call dataProcessor slugify processData "Plugins In Any Language!"
if [ -x "$build/plugins/plugin-go-text" ]; then
  call dataProcessor title-case processData "served by the net/http of go"
  call dataProcessor word-frequencies processData "to be or not to be"
else
  echo "(plugin-go-text was not built: install Go with \`apt-get install golang-go\` and build again)"
fi

say "a contract the host defined itself (greeter): JSON in and out, described by each plugin"
call greeter formal greet '{"name": "Ada", "language": "fr", "titles": ["Dr"]}'
call greeter casual greet '{"name": "Ada", "language": "it"}'
echo "\$ plugvisor call greeter classic farewell ...   (a build from before farewell existed)"
"$plugvisor" call greeter classic farewell --data '{"name": "Ada"}' --admin "$PLUGVISOR_ADMIN_SOCKET" || true

say "the same contract from a C++ host: one std::shared_ptr<Greeter> per provider"
echo "\$ $build/bin/custom-contract-host $build/examples/custom-contract/plugins"
"$build/bin/custom-contract-host" "$build/examples/custom-contract/plugins" | head -20
echo "..."

say "the same broker over HTTP, for hosts in any language"
echo "\$ curl --unix-socket $PLUGVISOR_ADMIN_SOCKET --data-binary 'any language' http://plugvisor/v1/call/dataProcessor/uppercase/processData"
curl -sS --fail-with-body --unix-socket "$PLUGVISOR_ADMIN_SOCKET" -H 'Content-Type: application/octet-stream' \
  --data-binary "any language" "http://plugvisor/v1/call/dataProcessor/uppercase/processData"
echo

say "plugvisor status"
"$plugvisor" status --admin "$PLUGVISOR_ADMIN_SOCKET"

say "plugvisor logs plugin-text-tools"
"$plugvisor" logs plugin-text-tools --admin "$PLUGVISOR_ADMIN_SOCKET" -n 5 || true

say "serving until Ctrl-C (the dashboard above refreshes live)"
wait "$daemon"
