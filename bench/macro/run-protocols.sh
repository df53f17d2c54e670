#!/usr/bin/env bash
# Whole-proxy benchmark of the other client protocols: HTTP/2 (h2load against an h2c listener, HTTP/1.1
# keep-alive to the upstreams) and TCP (wrk through an L4 pipe), Fulcrum beside nginx, HAProxy and a
# bare Node proxy, each pinned to one core, over the same two local upstreams. The HTTP/1.1 twin is
# run.sh; the method (pinning, interleaved rounds, quiet-machine wait, medians) is the same.
# See docs/benchmarks.md. Usage: bash bench/macro/run-protocols.sh  (or npm run bench:protocols)
#
# Environment (defaults in brackets):
#   MODES ["h2 tcp"]       which benchmarks
#   ROUNDS [3]             interleaved rounds; the report shows the median per cell
#   DURATION [6]           seconds of each measured run
#   WARMUP [10]            seconds of unmeasured load before each measured run (JIT warm-up: docs/benchmarks.md)
#   H2_LOADS ["4x16 16x16"] h2load clients x streams per client (-c x -m): 64 and 256 streams in flight
#   TCP_CONNS ["64 256"]   wrk connection counts in tcp mode
#   H2_PROXIES ["fulcrum nginx haproxy bare-h2"]  (also: fulcrum-nodeh2, Fulcrum on node:http2)
#   TCP_PROXIES ["fulcrum nginx haproxy bare-net"]
#   PROXY_CORE [1]         the core every proxy is pinned to
#   LOAD_CORE [0]          the core of h2load/wrk and the upstreams
#   BENCH_PORT_BASE [21900] ports BASE+1, BASE+2 (upstreams), BASE+10 (proxy), BASE+11 (Fulcrum admin)
#   QUIET_MAX [10]         before each run, wait up to this many seconds for the machine to be idle
#   QUIET_PCT [15]         "idle": less than this percentage of one core busy over a second
#   SKIP_BUILD [0]         1: do not run npm run build
#   KEEP_TMP [0]           1: keep the temporary directory (configs, logs, raw h2load/wrk output)
set -euo pipefail

MODES=${MODES:-"h2 tcp"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6}
WARMUP=${WARMUP:-10}
H2_LOADS=${H2_LOADS:-"4x16 16x16"}
TCP_CONNS=${TCP_CONNS:-"64 256"}
H2_PROXIES=${H2_PROXIES:-"fulcrum nginx haproxy bare-h2"}
TCP_PROXIES=${TCP_PROXIES:-"fulcrum nginx haproxy bare-net"}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
BASE=${BENCH_PORT_BASE:-21900}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_PCT=${QUIET_PCT:-15}
U1=$((BASE + 1))
U2=$((BASE + 2))
PPORT=$((BASE + 10))
APORT=$((BASE + 11))
NGINX_MODULES=${NGINX_MODULES:-/usr/lib/nginx/modules}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d /tmp/fulcrum-bench-proto.XXXXXX)
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
NEED=()
command -v nginx >/dev/null || NEED+=(nginx)
command -v haproxy >/dev/null || NEED+=(haproxy)
command -v wrk >/dev/null || NEED+=(wrk)
command -v h2load >/dev/null || NEED+=(nghttp2-client)
[[ -f "$NGINX_MODULES/ngx_stream_module.so" ]] || NEED+=(libnginx-mod-stream) # Debian builds stream {} as a module
if [[ ${#NEED[@]} -gt 0 ]]; then
  log "installing ${NEED[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${NEED[@]}" >/dev/null
fi
for p in $U1 $U2 $PPORT $APORT; do
  if [[ -n "$(ss -ltnH "sport = :$p")" ]]; then
    echo "port $p is in use; set BENCH_PORT_BASE" >&2
    exit 1
  fi
done
if [[ "$(nproc)" -lt 2 ]]; then log "warning: fewer than 2 cores; the load generator, upstreams and proxy share a core"; fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "npm run build"
  if ! npm run build --silent >"$TMP/build.log" 2>&1; then
    [[ -f dist/src/cli/main.js ]] || { cat "$TMP/build.log" >&2; exit 1; }
    log "warning: npm run build reported errors (dist/ emitted anyway):"
    grep -m3 'error TS' "$TMP/build.log" >&2 || true
    BUILD_NOTE=", build had type errors"
  fi
fi

# ---- process helpers (as in run.sh) ----
wait_ready() { # $1 mode; up to 10 s
  local i flag=()
  [[ "$1" == h2 ]] && flag=(--http2-prior-knowledge)
  for i in $(seq 1 100); do
    curl -sf "${flag[@]}" -o /dev/null -m 1 "http://127.0.0.1:$PPORT/" && return 0
    sleep 0.1
  done
  echo "not ready: $1 on port $PPORT" >&2
  return 1
}

# ---- upstreams: one nginx worker, two ports, pinned to the load core (as in run.sh) ----
mkdir -p "$TMP/up" "$TMP/px"
temp_paths() {
  local d=$1
  echo "client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;"
}
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
  server { listen 127.0.0.1:$U1 backlog=4096; location / { return 200 "ok"; } }
  server { listen 127.0.0.1:$U2 backlog=4096; location / { return 200 "ok"; } }
}
EOF
taskset -c "$LOAD_CORE" nginx -p "$TMP/up/" -c "$TMP/up/nginx.conf" -e "$TMP/up/error.log" \
  >"$TMP/up/stdout.log" 2>&1 &
UP_PID=$!
STARTED+=("$UP_PID")
for p in $U1 $U2; do
  for i in $(seq 1 100); do curl -sf -o /dev/null -m 1 "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

# ---- proxy configurations ----
# HTTP/2: Fulcrum's h2c listener (prior knowledge), HTTP/1.1 to the targets, as shipped (access log on).
cat >"$TMP/fulcrum-h2.yaml" <<EOF
_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: $PPORT
    protocol: h2c
admin:
  address: 127.0.0.1
  port: $APORT
logging:
  level: warn
  access_log: $TMP/px/fulcrum-access.log
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
# fulcrum-nodeh2: the same with node:http2 as the HTTP/2 codec (http2.codec: node), to compare the
# two codecs in one run (not in the default list).
sed 's|    protocol: h2c|    protocol: h2c\n    http2: { codec: node }|' "$TMP/fulcrum-h2.yaml" >"$TMP/fulcrum-nodeh2-h2.yaml"
# TCP: a tcp listener, a catch-all tcp route, a tcp service over the same round-robin upstream.
cat >"$TMP/fulcrum-tcp.yaml" <<EOF
_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: $PPORT
    protocol: tcp
admin:
  address: 127.0.0.1
  port: $APORT
logging:
  level: warn
  access_log: $TMP/px/fulcrum-access.log
timeouts:
  drain_ms: 2000
services:
  - name: bench
    protocol: tcp
    host: bench-upstream
    routes:
      - name: all
        protocols: [tcp]
upstreams:
  - name: bench-upstream
    algorithm: round-robin
    targets:
      - target: 127.0.0.1:$U1
      - target: 127.0.0.1:$U2
EOF

# nginx: cleartext HTTP/2 with prior knowledge is `listen ... http2` without ssl (nginx 1.22).
cat >"$TMP/px/nginx-h2.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/px/nginx.pid;
error_log $TMP/px/nginx-error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  $(temp_paths "$TMP/px")
  access_log $TMP/px/nginx-access.log combined buffer=64k flush=1s;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream bench {
    server 127.0.0.1:$U1;
    server 127.0.0.1:$U2;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$PPORT http2 backlog=4096;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
cat >"$TMP/px/nginx-tcp.conf" <<EOF
load_module $NGINX_MODULES/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $TMP/px/nginx.pid;
error_log $TMP/px/nginx-error.log warn;
events { worker_connections 16384; multi_accept on; }
stream {
  log_format basic '\$remote_addr [\$time_local] \$protocol \$status \$bytes_sent \$bytes_received \$session_time \$upstream_addr';
  access_log $TMP/px/nginx-access.log basic buffer=64k flush=1s;
  upstream bench {
    server 127.0.0.1:$U1;
    server 127.0.0.1:$U2;
  }
  server {
    listen 127.0.0.1:$PPORT backlog=4096;
    proxy_pass bench;
  }
}
EOF
haproxy_cfg() { # $1 mode
  cat <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 info
defaults
  mode $([[ "$1" == h2 ]] && echo http || echo tcp)
  log global
  option $([[ "$1" == h2 ]] && echo httplog || echo tcplog)
  timeout connect 5s
  timeout client 60s
  timeout server 60s
$([[ "$1" == h2 ]] && echo "  timeout http-keep-alive 60s")
frontend fe
  bind 127.0.0.1:$PPORT$([[ "$1" == h2 ]] && echo " proto h2")
  default_backend be
backend be
  balance roundrobin
$([[ "$1" == h2 ]] && echo "  http-reuse always")
  server u1 127.0.0.1:$U1
  server u2 127.0.0.1:$U2
EOF
}
haproxy_cfg h2 >"$TMP/px/haproxy-h2.cfg"
haproxy_cfg tcp >"$TMP/px/haproxy-tcp.cfg"

start_proxy() { # $1 mode $2 name; sets PROXY_PID
  local mode=$1 name=$2
  case "$name" in
    fulcrum | fulcrum-nodeh2)
      taskset -c "$PROXY_CORE" node bin/fulcrum.js start -c "$TMP/$name-$mode.yaml" \
        >>"$TMP/px/fulcrum.out" 2>>"$TMP/px/fulcrum.err" &
      ;;
    nginx)
      taskset -c "$PROXY_CORE" nginx -p "$TMP/px/" -c "$TMP/px/nginx-$mode.conf" -e "$TMP/px/nginx-error.log" \
        >>"$TMP/px/nginx.out" 2>&1 &
      ;;
    haproxy)
      taskset -c "$PROXY_CORE" haproxy -db -f "$TMP/px/haproxy-$mode.cfg" \
        >>"$TMP/px/haproxy-access.log" 2>>"$TMP/px/haproxy.err" &
      ;;
    bare-h2 | bare-net)
      taskset -c "$PROXY_CORE" node "bench/macro/$name.mjs" "$PPORT" "$U1" "$U2" >>"$TMP/px/bare.out" 2>&1 &
      ;;
    *)
      echo "unknown proxy $name" >&2
      exit 1
      ;;
  esac
  PROXY_PID=$!
  STARTED+=("$PROXY_PID")
  wait_ready "$mode"
}

to_ms() { # wrk latency figure (12.3us, 1.2ms, 1.1s, 1.0m) -> milliseconds
  awk -v x="$1" 'BEGIN {
    n = x + 0; u = x; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

run_load() { # $1 mode $2 load $3 seconds $4 output file ("" = discard); h2load or wrk on the load core
  local mode=$1 load=$2 secs=$3 out=$4 c m
  if [[ "$mode" == h2 ]]; then
    c=${load%x*}
    m=${load#*x}
    if [[ -n "$out" ]]; then
      taskset -c "$LOAD_CORE" h2load -t1 -c"$c" -m"$m" -D"$secs" --log-file="$out.log" \
        "http://127.0.0.1:$PPORT/" >"$out"
    else
      taskset -c "$LOAD_CORE" h2load -t1 -c"$c" -m"$m" -D"$secs" "http://127.0.0.1:$PPORT/" >/dev/null
    fi
  else
    if [[ -n "$out" ]]; then
      taskset -c "$LOAD_CORE" wrk -t1 -c"$load" -d"${secs}s" --timeout 5s --latency \
        "http://127.0.0.1:$PPORT/" >"$out"
    else
      taskset -c "$LOAD_CORE" wrk -t1 -c"$load" -d"${secs}s" --timeout 5s "http://127.0.0.1:$PPORT/" >/dev/null
    fi
  fi
}

parse_result() { # $1 mode $2 output file -> "rps requests secs p50_ms p99_ms errors"
  local mode=$1 out=$2
  if [[ "$mode" == h2 ]]; then
    # finished in 6.00s, 12345.67 req/s, ...; requests: N total, N started, N done, N succeeded, F failed,
    # E errored, T timeout; status codes: A 2xx, B 3xx, C 4xx, D 5xx. Latency from the per-request log
    # (third column: microseconds until the end of the response).
    local rps secs reqs errs p50 p99
    secs=$(awk '/^finished in/{s = $3; sub(/s,$/, "", s); print s}' "$out")
    rps=$(awk '/^finished in/{print $4}' "$out")
    reqs=$(awk '/^requests:/{print $6}' "$out")
    errs=$(awk '/^requests:/{e = $10 + $12 + $14} /^status codes:/{gsub(/,/, ""); e += $5 + $7 + $9} END {print e + 0}' "$out")
    read -r p50 p99 < <(cut -f3 "$out.log" | sort -n | awk '{v[NR] = $1} END {
      if (NR == 0) { print "nan nan"; exit }
      i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
      printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }')
    echo "$rps $reqs $secs $p50 $p99 $errs"
  else
    local rps reqs secs p50 p99 errs
    rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
    reqs=$(awk '/ requests in /{print $1}' "$out")
    secs=$(awk '/ requests in /{s = $4; sub(/s,$/, "", s); print s}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    errs=$(awk '/Socket errors:/{gsub(/,/, ""); e += $4 + $6 + $8 + $10} /Non-2xx or 3xx/{e += $NF} END {print e + 0}' "$out")
    echo "$rps $reqs $secs $p50 $p99 $errs"
  fi
}

SAMPLES="$TMP/samples.tsv"
printf 'mode\tproxy\tload\tround\trps\tp50_ms\tp99_ms\trequests\tsecs\tcpu_s\thwm_kb\terrors\tother_cores\n' >"$SAMPLES"

measure() { # $1 mode $2 proxy $3 load $4 round
  local mode=$1 name=$2 load=$3 r=$4 out c0 c1 hwm rps reqs secs p50 p99 errs s0 s1 u0 u1 w0 w1
  start_proxy "$mode" "$name"
  run_load "$mode" "$load" "$WARMUP" ""
  wait_quiet
  out="$TMP/out-$mode-$name-$load-$r.txt"
  u0=$(cpu_ticks "$UP_PID")
  c0=$(cpu_ticks "$PROXY_PID")
  s0=$(sys_busy_ticks)
  w0=$(self_child_ticks)
  run_load "$mode" "$load" "$DURATION" "$out"
  w1=$(self_child_ticks)
  s1=$(sys_busy_ticks)
  c1=$(cpu_ticks "$PROXY_PID")
  u1=$(cpu_ticks "$UP_PID")
  hwm=$(hwm_kb "$PROXY_PID")
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  read -r rps reqs secs p50 p99 errs < <(parse_result "$mode" "$out")
  rm -f "$out.log"
  local cpu other
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
  other=$(awk -v s=$((s1 - s0 - (c1 - c0) - (u1 - u0) - (w1 - w0))) -v t="$TICK" -v d="$secs" \
    'BEGIN {x = s / t / d; if (x < 0) x = 0; printf "%.2f", x}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$mode" "$name" "$load" "$r" "$rps" "$p50" "$p99" "$reqs" "$secs" "$cpu" "$hwm" "$errs" "$other" >>"$SAMPLES"
  log "round $r $mode $name load=$load: ${rps} req/s p50 ${p50} ms p99 ${p99} ms cpu ${cpu}s rss $((hwm / 1024)) MiB errors $errs other-load ${other} cores"
}

log "modes=[$MODES] rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s h2=[$H2_LOADS] tcp=[$TCP_CONNS] tmp=$TMP"
for r in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    if [[ "$mode" == h2 ]]; then
      read -r -a PLIST <<<"$H2_PROXIES"
      read -r -a LLIST <<<"$H2_LOADS"
    elif [[ "$mode" == tcp ]]; then
      read -r -a PLIST <<<"$TCP_PROXIES"
      read -r -a LLIST <<<"$TCP_CONNS"
    else
      echo "unknown mode $mode (h2, tcp)" >&2
      exit 1
    fi
    n=${#PLIST[@]}
    for i in $(seq 0 $((n - 1))); do # rotate the order each round
      p=${PLIST[$(((i + r - 1) % n))]}
      for l in "${LLIST[@]}"; do measure "$mode" "$p" "$l" "$r"; done
    done
  done
done

# ---- report ----
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p bench/results
INFO="$TMP/info.md"
{
  echo "## Fulcrum protocol benchmark (HTTP/2, TCP), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores; kernel $(uname -r)"
  echo "- node $(node --version), undici $(node -p "require('undici/package.json').version"), fulcrum $(node bin/fulcrum.js --version) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n "$(git status --porcelain -- src 2>/dev/null)" ]] && echo ', src modified')$BUILD_NOTE)"
  echo "- $(nginx -v 2>&1); $(haproxy -v | head -1 | awk '{print "HAProxy", $3}'); $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'); $(h2load --version | head -1)"
  echo "- proxy pinned to core $PROXY_CORE; h2load/wrk (one thread) and upstreams (one nginx worker, two ports, return 200 \"ok\") on core $LOAD_CORE"
  echo "- rounds $ROUNDS, ${DURATION}s measured + ${WARMUP}s warm-up per run, each proxy restarted for every run, order rotated per round"
} >"$INFO"
cp "$SAMPLES" "bench/results/protocols-$STAMP.tsv"
node bench/macro/report-protocols.mjs "$SAMPLES" "$INFO" >"bench/results/protocols-$STAMP.md"
echo
cat "bench/results/protocols-$STAMP.md"
echo
log "written bench/results/protocols-$STAMP.md and .tsv"
