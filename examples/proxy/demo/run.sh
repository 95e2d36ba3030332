#!/bin/sh
# The proxy demo: an upstream, the proxy with its filter plugins, and the
# curl session of examples/proxy/README.md. Run from the repository root
# after building (cmake --build build --target proxy-example filter-fixture):
#
#   examples/proxy/demo/run.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
proxy="$root/build/bin/plugvisor-proxy"
[ -x "$proxy" ] || { echo "build first: cmake --build build --target proxy-example filter-fixture" >&2; exit 2; }

python3 "$here/upstream.py" 8481 & upstream=$!
"$proxy" --config "$here/proxy.json" > /tmp/plugvisor-proxy-demo.out 2>&1 & proxy_pid=$!
trap 'kill $proxy_pid $upstream 2>/dev/null; rm -f /tmp/plugvisor-proxy-maintenance' EXIT
for _ in $(seq 50); do grep -q "listening on" /tmp/plugvisor-proxy-demo.out && break; sleep 0.1; done

show() { echo; echo "\$ $*"; "$@"; echo; }
P=http://127.0.0.1:8480
show curl -s -i "$P/api/user" -H 'X-Debug: 1'                                      # headers rewritten, fields redacted
show curl -s "$P/api/login" -H 'Content-Type: application/json' -d '{"user":"ada","password":"s3cret"}'
etag=$(curl -s -D - -o /dev/null "$P/static/app.js" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
show curl -s -i "$P/static/app.js"                                                   # Cache-Control and ETag
show curl -s -i "$P/static/app.js" -H "If-None-Match: $etag"                         # 304
for i in 1 2 3 4; do show curl -s -o /dev/null -w '%{http_code} retry-after=%header{retry-after}\n' "$P/limited/x"; done
touch /tmp/plugvisor-proxy-maintenance
show curl -s -i "$P/anything"                                                        # the maintenance page
show curl -s -i "$P/healthz"                                                         # allowed during maintenance
rm -f /tmp/plugvisor-proxy-maintenance
show curl -s -i "$P/slow/x"                                                          # fail-open: timed out, skipped
show curl -s -i "$P/strict/x"                                                        # fail-closed: 502
show curl -s -i "$P/strict/x"
show curl -s -i "$P/strict/x"                                                        # circuit open: 503
show curl -s -i "$P/legacy/x"                                                        # upstream down: 502
