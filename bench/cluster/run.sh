#!/usr/bin/env bash
# Scale-out benchmark (docs/cluster.md, docs/benchmarks.md), in one run:
#   w1, w2       req/s of one node with `--workers 1` and `--workers 2`, proxy unpinned. On a
#                2-core machine wrk, the upstream and the proxy share both cores: the figure says
#                what a second worker buys when the load generator competes with it, not what a
#                dedicated machine would give.
#   rl-local     one process pinned to PROXY_CORE, `rate-limiting` on every request with
#                `policy: local` and a limit never reached;
#   rl-redis     the same with `policy: redis` (redis_host: a redis-server on LOAD_CORE): one Lua
#                script per request. rl-redis against rl-local is the per-request cost of counting
#                in Redis (req/s and latency).
#   w2-up, w2-cb `--workers 2` proxying to an upstream entity, without and with a circuit breaker
#                (`max_requests`, never reached): with a limit on tries, each try is admitted by the
#                primary (src/workers/breakers.ts), one IPC round trip. w2-cb against w2-up is its cost.
# Each run also reports the proxy's CPU time per request (utime+stime of the node and its workers
# over the measured run / requests): the figure least disturbed by other work on the machine.
# Rounds are interleaved; the report gives the median per variant. Usage: bash bench/cluster/run.sh
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [8]  WARMUP [2]  CONNS [64]  VARIANTS ["w1 w2 rl-local rl-redis"]
#   PROXY_CORE [1]  LOAD_CORE [0]  BENCH_PORT_BASE [22800]  QUIET_MAX [10]  QUIET_PCT [15]
#   SKIP_BUILD [0]  KEEP_TMP [0]
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
VARIANTS=${VARIANTS:-"w1 w2 rl-local rl-redis"}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
BASE=${BENCH_PORT_BASE:-22800}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_PCT=${QUIET_PCT:-15}
UP=$((BASE + 1))
RPORT=$((BASE + 2))
PPORT=$((BASE + 10))
APORT=$((BASE + 11))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d /tmp/fulcrum-bench-cluster.XXXXXX)
STARTED=()
TICK=$(getconf CLK_TCK)
# shellcheck source=../lib/common.sh
source "$ROOT/bench/lib/common.sh"

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $UP $RPORT $PPORT $APORT; do
  if [[ -n "$(ss -ltnH "sport = :$p")" ]]; then
    echo "port $p is in use; set BENCH_PORT_BASE" >&2
    exit 1
  fi
done
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "npm run build"
  npm run build --silent >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; exit 1; }
fi

# ---- the upstream (nginx, one worker) and Redis, on the load core ----
cat >"$TMP/up.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/up.pid;
error_log $TMP/up-error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy; fastcgi_temp_path $TMP/fcgi;
  uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:$UP backlog=4096; location / { return 200 "ok"; } }
}
EOF
taskset -c "$LOAD_CORE" nginx -p "$TMP/" -c "$TMP/up.conf" -e "$TMP/up-error.log" >/dev/null 2>&1 &
STARTED+=("$!")
taskset -c "$LOAD_CORE" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  >"$TMP/redis.log" 2>&1 &
STARTED+=("$!")
wait_ready "http://127.0.0.1:$UP/"

config() { # $1 variant: the node's file
  local plugin="" target="url: http://127.0.0.1:$UP/" upstreams=""
  case "$1" in
    w2-up)
      target="host: bench"
      upstreams="upstreams: [{ name: bench, targets: [{ target: 127.0.0.1:$UP }] }]"
      ;;
    w2-cb)
      target="host: bench"
      upstreams="upstreams: [{ name: bench, circuit_breaker: { max_requests: 1000000 }, targets: [{ target: 127.0.0.1:$UP }] }]"
      ;;
    rl-local) plugin="plugins: [{ name: rate-limiting, config: { second: 1000000000, policy: local, limit_by: ip } }]" ;;
    rl-redis) plugin="plugins: [{ name: rate-limiting, config: { second: 1000000000, policy: redis, limit_by: ip, redis_host: 127.0.0.1, redis_port: $RPORT } }]" ;;
  esac
  cat <<EOF
_format_version: "3.0"
listeners: [{ name: proxy, address: 127.0.0.1, port: $PPORT }]
admin: { address: 127.0.0.1, port: $APORT }
logging: { level: warn, access_log: "off" }
$upstreams
services:
  - name: bench
    $target
    routes: [{ name: all, paths: ["/"] }]
$plugin
EOF
}

run_variant() { # $1 variant; prints "req/s p50_ms p99_ms cpu_us_per_request"
  local v=$1 workers=1 pin="taskset -c $PROXY_CORE" wrkpin="taskset -c $LOAD_CORE" pid out t0 t1
  config "$v" >"$TMP/$v.yaml"
  case "$v" in
    w1) pin="" wrkpin="" ;;
    w2 | w2-up | w2-cb) workers=2 pin="" wrkpin="" ;;
  esac
  $pin node bin/fulcrum.js start -c "$TMP/$v.yaml" --workers "$workers" >"$TMP/$v.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  wait_ready "http://127.0.0.1:$PPORT/"
  $wrkpin wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$PPORT/" >/dev/null
  t0=$(cpu_ticks "$pid")
  out=$($wrkpin wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PPORT/")
  t1=$(cpu_ticks "$pid")
  stop_pid "$pid"
  local keep=() p
  for p in "${STARTED[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  STARTED=("${keep[@]}")
  if grep -q 'Non-2xx' <<<"$out"; then log "$v: non-2xx answers"; grep 'Non-2xx' <<<"$out" >&2; fi
  awk -v ticks=$((t1 - t0)) -v hz="$TICK" '
    / requests in / { n = $1 }
    /Requests\/sec/ { rps = $2 }
    function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, (n > 0 ? ticks * 1e6 / hz / n : 0) }' <<<"$out"
}

declare -A RESULTS
for r in $(seq 1 "$ROUNDS"); do
  for v in $VARIANTS; do
    wait_quiet
    res=$(run_variant "$v")
    log "round $r $v: req/s p50_ms p99_ms cpu_us/req = $res"
    RESULTS[$v]+="$res"$'\n'
  done
done

median() { sort -n | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "node $(node --version), $(nproc) cores, $ROUNDS rounds of ${DURATION}s, wrk -t1 -c$CONNS; medians"
printf '%-10s %10s %10s %10s %12s\n' variant req/s p50_ms p99_ms cpu_us/req
for v in $VARIANTS; do
  rows=${RESULTS[$v]}
  printf '%-10s %10s %10s %10s %12s\n' "$v" \
    "$(awk 'NF {print $1}' <<<"$rows" | median)" \
    "$(awk 'NF {print $2}' <<<"$rows" | median)" \
    "$(awk 'NF {print $3}' <<<"$rows" | median)" \
    "$(awk 'NF {print $4}' <<<"$rows" | median)"
done
