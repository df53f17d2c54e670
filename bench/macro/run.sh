#!/usr/bin/env bash
# Whole-proxy benchmark: Fulcrum against nginx, HAProxy and a bare Node/undici proxy, each a
# round-robin keep-alive reverse proxy over the same two local upstreams, each pinned to one core.
# See docs/benchmarks.md. Usage: bash bench/macro/run.sh  (or npm run bench:macro)
#
# Environment (defaults in brackets):
#   ROUNDS [3]             interleaved rounds; the report shows the median per cell
#   DURATION [8]           seconds of each measured wrk run
#   WARMUP [10]            seconds of unmeasured wrk load before each measured run (V8 compiles
#                          Fulcrum's hot path over its first ~120,000 requests: docs/benchmarks.md)
#   CONNS ["64 256"]       wrk connection counts
#   PROXIES ["fulcrum nginx haproxy bare-undici"]; also fulcrum-semiN (V8 flag, see start_proxy),
#                          fulcrum-nolog, fulcrum-lean, fulcrum-plugins,
#                          fulcrum-trace1, fulcrum-trace100 (see below)
#   PROXY_CORE [1]         the core every proxy is pinned to
#   LOAD_CORE [0]          the core of wrk and the upstreams
#   BENCH_PORT_BASE [21800] ports BASE+1, BASE+2 (upstreams), BASE+3 (OTLP sink), BASE+10 (proxy),
#                          BASE+11 (Fulcrum admin)
#   QUIET_MAX [10]         before each run, wait up to this many seconds for the machine to be idle
#   QUIET_PCT [15]         "idle": less than this percentage of one core busy over a second
#   PROFILE [0]            1: instead, run Fulcrum alone under `node --cpu-prof` (c=64, DURATION 10 s)
#                          and summarize the profile with cpuprofile-summary.mjs
#   SKIP_BUILD [0]         1: do not run npm run build
#   KEEP_TMP [0]           1: keep the temporary directory (configs, logs, raw wrk output)
#   BODY_BYTES [0]         0: the upstreams answer "ok" (per-request overhead); N: a static N-byte
#                          body (streaming throughput: MB/s = req/s x N), e.g. 1048576
#   PAIRED [""]            "A B" (two of the PROXIES names, the same one twice for a control): instead
#                          of rounds, both run at once on the proxy core, warmed, and are measured in
#                          alternating windows (A B, B A, ...): the machine's speed drifts by a quarter
#                          within seconds, and a pair of adjacent windows shares it. Reports the
#                          median and quartiles of B/A per proxy CPU-second (report-paired.mjs).
#   WINDOWS [12]           paired mode: pairs of windows per connection count
#   WINDOW [4]             paired mode: seconds of each window
set -euo pipefail

PROFILE=${PROFILE:-0}
if [[ "$PROFILE" == 1 ]]; then
  ROUNDS=1 DURATION=${DURATION:-10} CONNS=${CONNS:-64} PROXIES=${PROFILE_PROXY:-fulcrum}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-10}
CONNS=${CONNS:-"64 256"}
PROXIES=${PROXIES:-"fulcrum nginx haproxy bare-undici"}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
BASE=${BENCH_PORT_BASE:-21800}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_PCT=${QUIET_PCT:-15}
U1=$((BASE + 1))
U2=$((BASE + 2))
OTLP=$((BASE + 3))
PPORT=$((BASE + 10))
APORT=$((BASE + 11))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
STARTED=()
BUILD_NOTE=""
TICK=$(getconf CLK_TCK)
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"



cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
  local keep=() p
  for p in "${STARTED[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  STARTED=("${keep[@]}")
}

# ---- prerequisites ----
if ! command -v nginx >/dev/null || ! command -v haproxy >/dev/null || ! command -v wrk >/dev/null; then
  log "installing nginx haproxy wrk"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx haproxy wrk >/dev/null
fi
PAIRED=${PAIRED:-}
for p in $U1 $U2 $PPORT $APORT $([[ -n "$PAIRED" ]] && echo $((PPORT + 20)) $((APORT + 20))); do
  if [[ -n "$(ss -ltnH "sport = :$p")" ]]; then
    echo "port $p is in use; set BENCH_PORT_BASE" >&2
    exit 1
  fi
done
if [[ "$(nproc)" -lt 2 ]]; then log "warning: fewer than 2 cores; wrk, upstreams and proxy share a core"; fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "npm run build"
  if ! npm run build --silent >"$TMP/build.log" 2>&1; then
    # tsc still emits on type errors (often another file in progress); go on if dist/ is there.
    [[ -f dist/src/cli/main.js ]] || { cat "$TMP/build.log" >&2; exit 1; }
    log "warning: npm run build reported errors (dist/ emitted anyway):"
    grep -m3 'error TS' "$TMP/build.log" >&2 || true
    BUILD_NOTE=", build had type errors"
  fi
fi

# ---- process helpers ----

# ---- upstreams: one nginx worker, two ports, pinned to the load core ----
mkdir -p "$TMP/up" "$TMP/px"
temp_paths() {
  local d=$1
  echo "client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;"
}
BODY_BYTES=${BODY_BYTES:-0}
if [[ "$BODY_BYTES" -gt 0 ]]; then
  head -c "$BODY_BYTES" /dev/urandom >"$TMP/up/body.bin"
  # nginx's workers drop root: they must reach the file through mktemp's private directory.
  chmod 755 "$TMP" "$TMP/up" && chmod 644 "$TMP/up/body.bin"
  UP_LOCATION="location / { root $TMP/up; default_type application/octet-stream; try_files /body.bin =404; }"
else
  UP_LOCATION='location / { return 200 "ok"; }'
fi
cat >"$TMP/up/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/up/nginx.pid;
error_log $TMP/up/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  $(temp_paths "$TMP/up")
  access_log off;
  default_type text/plain;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:$U1 backlog=4096; $UP_LOCATION }
  server { listen 127.0.0.1:$U2 backlog=4096; $UP_LOCATION }
  # The OTLP/HTTP collector of the fulcrum-trace variants: accepts every export, keeps nothing.
  server { listen 127.0.0.1:$OTLP backlog=4096; location / { default_type application/json; return 200 "{}"; } }
}
EOF
taskset -c "$LOAD_CORE" nginx -p "$TMP/up/" -c "$TMP/up/nginx.conf" -e "$TMP/up/error.log" \
  >"$TMP/up/stdout.log" 2>&1 &
UP_PID=$!
STARTED+=("$UP_PID")
wait_ready "http://127.0.0.1:$U1/"
wait_ready "http://127.0.0.1:$U2/"

# ---- proxy configurations ----
# Every proxy's configuration, listening on $2 (Fulcrum's admin on $3), its files in $1. Written
# twice in paired mode (PAIRED): the second proxy of a pair runs beside the first on other ports.
write_configs() {
  local D=$1 PP=$2 AP=$3 pct
  mkdir -p "$D"
cat >"$D/fulcrum.yaml" <<EOF
_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: $PP
admin:
  address: 127.0.0.1
  port: $AP
logging:
  level: warn
  access_log: $D/fulcrum-access.log
timeouts:
  drain_ms: 2000
services:
  - name: bench
    host: bench-upstream
    routes:
      - name: all
        paths: ["/"]
upstreams:
  - name: bench-upstream
    algorithm: round-robin
    targets:
      - target: 127.0.0.1:$U1
      - target: 127.0.0.1:$U2
EOF

cat >"$D/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $D/nginx.pid;
error_log $D/nginx-error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  $(temp_paths "$D")
  access_log $D/nginx-access.log combined buffer=64k flush=1s;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream bench {
    server 127.0.0.1:$U1;
    server 127.0.0.1:$U2;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$PP backlog=4096;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF

cat >"$D/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend fe
  bind 127.0.0.1:$PP
  default_backend be
backend be
  balance roundrobin
  http-reuse always
  server u1 127.0.0.1:$U1
  server u2 127.0.0.1:$U2
EOF

# Variants, for attributing cost (not in the default list): fulcrum-nolog (access_log: off) and
# fulcrum-lean (no access log, no Via, no request id).
sed "s|  access_log: .*|  access_log: \"off\"|" "$D/fulcrum.yaml" >"$D/fulcrum-nolog.yaml"
{
  cat "$D/fulcrum-nolog.yaml"
  printf 'headers:\n  via: false\n  request_id: ""\n'
} >"$D/fulcrum-lean.yaml"
# fulcrum-plugins: key-auth and rate-limiting (a limit never reached) on every request; wrk sends
# the key in the query (url_for). Compare with fulcrum for the plugins' cost (docs/plugins.md).
{
  cat "$D/fulcrum.yaml"
  printf 'plugins:\n  - name: key-auth\n  - name: rate-limiting\n    config: { second: 1000000000, limit_by: consumer }\n'
  printf 'consumers:\n  - username: bench\n    keyauth_credentials: [{ key: bench }]\n'
} >"$D/fulcrum-plugins.yaml"

# fulcrum-trace1, fulcrum-trace100: the fulcrum configuration with OpenTelemetry tracing sampling
# 1% and 100% of requests, exported (OTLP/HTTP, batched) to a sink on the load core
# (docs/observability.md#traces). Compare with fulcrum for the cost of tracing.
for pct in 1 100; do
  {
    cat "$D/fulcrum.yaml"
    printf 'tracing:\n  endpoint: http://127.0.0.1:%s/v1/traces\n  sampling: %s\n' "$OTLP" \
      "$(awk -v p="$pct" 'BEGIN { print p / 100 }')"
  } >"$D/fulcrum-trace$pct.yaml"
done
}
write_configs "$TMP/px" "$PPORT" "$APORT"

# The proxy start_proxy starts and url_for names: its files' directory and its port (paired mode
# starts a second proxy with the other set).
PX_DIR="$TMP/px"
PX_PORT=$PPORT

url_for() { # $1 proxy: the URL wrk and the readiness check request
  if [[ "$1" == fulcrum-plugins ]]; then
    echo "http://127.0.0.1:$PX_PORT/?apikey=bench"
  else
    echo "http://127.0.0.1:$PX_PORT/"
  fi
}

start_proxy() { # $1 name; sets PROXY_PID
  local name=$1
  case "$name" in
    fulcrum)
      # shellcheck disable=SC2086
      taskset -c "$PROXY_CORE" node $NODE_PROF bin/fulcrum.js start -c "$PX_DIR/fulcrum.yaml" \
        >>"$PX_DIR/fulcrum.out" 2>>"$PX_DIR/fulcrum.err" &
      ;;
    fulcrum-nolog | fulcrum-lean | fulcrum-plugins | fulcrum-trace1 | fulcrum-trace100)
      # shellcheck disable=SC2086
      taskset -c "$PROXY_CORE" node $NODE_PROF bin/fulcrum.js start -c "$PX_DIR/$name.yaml" \
        >>"$PX_DIR/fulcrum.out" 2>>"$PX_DIR/fulcrum.err" &
      ;;
    fulcrum-semi*)
      # fulcrum-semiN: the shipped configuration with V8's young generation capped at N MiB per
      # semi-space (--max-semi-space-size; Node's default lets it grow to 16): memory against CPU.
      # shellcheck disable=SC2086
      taskset -c "$PROXY_CORE" node --max-semi-space-size="${name#fulcrum-semi}" $NODE_PROF bin/fulcrum.js \
        start -c "$PX_DIR/fulcrum.yaml" >>"$PX_DIR/fulcrum.out" 2>>"$PX_DIR/fulcrum.err" &
      ;;
    nginx)
      taskset -c "$PROXY_CORE" nginx -p "$PX_DIR/" -c "$PX_DIR/nginx.conf" -e "$PX_DIR/nginx-error.log" \
        >>"$PX_DIR/nginx.out" 2>&1 &
      ;;
    haproxy)
      taskset -c "$PROXY_CORE" haproxy -db -f "$PX_DIR/haproxy.cfg" \
        >>"$PX_DIR/haproxy-access.log" 2>>"$PX_DIR/haproxy.err" &
      ;;
    bare-undici)
      taskset -c "$PROXY_CORE" node bench/macro/bare-undici.mjs "$PX_PORT" "$U1" "$U2" \
        >>"$PX_DIR/bare.out" 2>&1 &
      ;;
    *)
      echo "unknown proxy $name" >&2
      exit 1
      ;;
  esac
  PROXY_PID=$!
  STARTED+=("$PROXY_PID")
  wait_ready "$(url_for "$name")"
}

to_ms() { # wrk latency figure (12.3us, 1.2ms, 1.1s, 1.0m) -> milliseconds
  awk -v x="$1" 'BEGIN {
    n = x + 0; u = x; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

NODE_PROF=""
[[ "$PROFILE" == 1 ]] && NODE_PROF="--cpu-prof --cpu-prof-dir=$TMP/prof"
SAMPLES="$TMP/samples.tsv"
printf 'proxy\tconns\tround\trps\tp50_ms\tp99_ms\trequests\tsecs\tcpu_s\thwm_kb\terrors\tother_cores\n' >"$SAMPLES"

measure() { # $1 proxy $2 conns $3 round
  local name=$1 c=$2 r=$3 out c0 c1 hwm rps reqs secs p50 p99 errs s0 s1 u0 u1 w0 w1 url
  url=$(url_for "$name")
  start_proxy "$name"
  taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${WARMUP}s" --timeout 5s "$url" >/dev/null
  wait_quiet
  out="$TMP/wrk-$name-$c-$r.txt"
  u0=$(cpu_ticks "$UP_PID")
  c0=$(cpu_ticks "$PROXY_PID")
  s0=$(sys_busy_ticks)
  w0=$(self_child_ticks)
  taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${DURATION}s" --timeout 5s --latency "$url" >"$out"
  w1=$(self_child_ticks)
  s1=$(sys_busy_ticks)
  c1=$(cpu_ticks "$PROXY_PID")
  u1=$(cpu_ticks "$UP_PID")
  hwm=$(hwm_kb "$PROXY_PID")
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  reqs=$(awk '/ requests in /{print $1}' "$out")
  secs=$(awk '/ requests in /{s = $4; sub(/s,$/, "", s); print s}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errs=$(awk '/Socket errors:/{gsub(/,/, ""); e += $4 + $6 + $8 + $10} /Non-2xx or 3xx/{e += $NF} END {print e + 0}' "$out")
  local cpu other
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
  # CPU used by anything else on the machine during the run, in cores (a shared machine is noisy)
  other=$(awk -v s=$((s1 - s0 - (c1 - c0) - (u1 - u0) - (w1 - w0))) -v t="$TICK" -v d="$secs" \
    'BEGIN {x = s / t / d; if (x < 0) x = 0; printf "%.2f", x}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$name" "$c" "$r" "$rps" "$p50" "$p99" "$reqs" "$secs" "$cpu" "$hwm" "$errs" "$other" >>"$SAMPLES"
  log "round $r $name c=$c: ${rps} req/s p50 ${p50} ms p99 ${p99} ms cpu ${cpu}s rss $((hwm / 1024)) MiB errors $errs other-load ${other} cores"
}

# ---- paired mode: two proxies side by side, measured in alternating windows ----
window() { # $1 label $2 pid $3 url $4 conns $5 pair: one window, a line of the paired samples
  local out="$TMP/win.txt" c0 c1 reqs secs
  c0=$(cpu_ticks "$2")
  taskset -c "$LOAD_CORE" wrk -t1 -c"$4" -d"${WINDOW}s" --timeout 5s "$3" >"$out"
  c1=$(cpu_ticks "$2")
  reqs=$(awk '/ requests in /{print $1}' "$out")
  secs=$(awk '/ requests in /{s = $4; sub(/s,$/, "", s); print s}' "$out")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$4" "$5" "$reqs" "$secs" \
    "$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')" >>"$SAMPLES"
}
if [[ -n "$PAIRED" ]]; then
  read -r PA PB <<<"$PAIRED"
  WINDOWS=${WINDOWS:-12}
  WINDOW=${WINDOW:-4}
  write_configs "$TMP/px2" $((PPORT + 20)) $((APORT + 20))
  start_proxy "$PA"
  PID_A=$PROXY_PID
  URL_A=$(url_for "$PA")
  PX_DIR="$TMP/px2" PX_PORT=$((PPORT + 20))
  start_proxy "$PB"
  PID_B=$PROXY_PID
  URL_B=$(url_for "$PB")
  printf 'label\tconns\tpair\trequests\tsecs\tcpu_s\n' >"$SAMPLES"
  log "paired: A=$PA B=$PB windows=$WINDOWS x ${WINDOW}s conns=[$CONNS] tmp=$TMP"
  for c in $CONNS; do
    taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${WARMUP}s" --timeout 5s "$URL_A" >/dev/null
    taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${WARMUP}s" --timeout 5s "$URL_B" >/dev/null
    for w in $(seq 1 "$WINDOWS"); do
      wait_quiet
      if ((w % 2)); then
        window A "$PID_A" "$URL_A" "$c" "$w"
        window B "$PID_B" "$URL_B" "$c" "$w"
      else
        window B "$PID_B" "$URL_B" "$c" "$w"
        window A "$PID_A" "$URL_A" "$c" "$w"
      fi
    done
    log "c=$c done"
  done
  STAMP=$(date -u +%Y%m%d-%H%M%S)
  mkdir -p bench/results
  {
    echo "## Fulcrum paired benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): A = $PA, B = $PB"
    echo
    echo "- node $(node --version), fulcrum $(git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n "$(git status --porcelain -- src 2>/dev/null)" ]] && echo ', src modified')$BUILD_NOTE; CPU $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "- both proxies pinned to core $PROXY_CORE, wrk (-t1) and the upstreams on core $LOAD_CORE; ${WARMUP}s warm-up each, then $WINDOWS pairs of ${WINDOW}s windows per connection count, order A B then B A"
    echo
    node bench/macro/report-paired.mjs "$SAMPLES"
  } >"bench/results/paired-$STAMP.md"
  cp "$SAMPLES" "bench/results/paired-$STAMP.tsv"
  echo
  cat "bench/results/paired-$STAMP.md"
  log "written bench/results/paired-$STAMP.md and .tsv"
  exit 0
fi

read -r -a PLIST <<<"$PROXIES"
read -r -a CLIST <<<"$CONNS"
n=${#PLIST[@]}
log "rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s conns=[$CONNS] proxies=[$PROXIES] tmp=$TMP"
for r in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do # rotate the order each round
    p=${PLIST[$(((i + r - 1) % n))]}
    for c in "${CLIST[@]}"; do measure "$p" "$c" "$r"; done
  done
done

# ---- report ----
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p bench/results
if [[ "$PROFILE" == 1 ]]; then
  prof=$(ls "$TMP"/prof/*.cpuprofile 2>/dev/null | head -1)
  [[ -n "$prof" ]] || { echo "no .cpuprofile written" >&2; exit 1; }
  cp "$prof" "bench/results/fulcrum-$STAMP.cpuprofile"
  {
    echo "## Fulcrum CPU profile, $(date -u '+%Y-%m-%d %H:%M UTC'), wrk -c$CONNS for ${DURATION}s"
    echo
    tail -n +2 "$SAMPLES" | awk -F'\t' '{printf "%s req/s, p50 %s ms, p99 %s ms, proxy CPU %s s, other load %s cores\n\n", $4, $5, $6, $9, $12}'
    node bench/macro/cpuprofile-summary.mjs "bench/results/fulcrum-$STAMP.cpuprofile"
  } >"bench/results/profile-$STAMP.md"
  cat "bench/results/profile-$STAMP.md"
  log "written bench/results/profile-$STAMP.md and fulcrum-$STAMP.cpuprofile (open it in Chrome DevTools)"
  exit 0
fi
INFO="$TMP/info.md"
{
  echo "## Fulcrum macro benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores; kernel $(uname -r)"
  echo "- node $(node --version), undici $(node -p "require('undici/package.json').version"), fulcrum $(node bin/fulcrum.js --version) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n "$(git status --porcelain -- src 2>/dev/null)" ]] && echo ', src modified')$BUILD_NOTE)"
  echo "- $(nginx -v 2>&1); $(haproxy -v | head -1 | awk '{print "HAProxy", $3}'); $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}')"
  echo "- proxy pinned to core $PROXY_CORE; wrk (-t1) and upstreams (one nginx worker, two ports, $([[ "$BODY_BYTES" -gt 0 ]] && echo "a static $BODY_BYTES-byte body" || echo 'return 200 \"ok\"')) on core $LOAD_CORE"
  echo "- rounds $ROUNDS, ${DURATION}s measured + ${WARMUP}s warm-up per run, each proxy restarted for every run, order rotated per round"
} >"$INFO"
cp "$SAMPLES" "bench/results/macro-$STAMP.tsv"
node bench/macro/report.mjs "$SAMPLES" "$INFO" >"bench/results/macro-$STAMP.md"
echo
cat "bench/results/macro-$STAMP.md"
echo
log "written bench/results/macro-$STAMP.md and .tsv"
