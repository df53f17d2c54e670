# Shell helpers for the benchmark scripts (sourced): logging, stopping what a script started,
# waiting for a quiet machine and for a server to answer. A script sets QUIET_MAX, QUIET_PCT and
# TICK (getconf CLK_TCK) before calling wait_quiet. Sourced by bench/macro/*.sh and bench/cluster/run.sh.

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_pid() { # $1 pid: TERM, then KILL after 8 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 80); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

sys_busy_ticks() { # busy ticks of all cores (user nice system irq softirq steal)
  awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

wait_quiet() { # wait (up to QUIET_MAX s) until the machine is idle apart from us: others may share it
  local i a b
  for i in $(seq 1 "$QUIET_MAX"); do
    a=$(sys_busy_ticks)
    sleep 1
    b=$(sys_busy_ticks)
    if [[ $((b - a)) -le $((TICK * QUIET_PCT / 100)) ]]; then return 0; fi
  done
  log "machine still busy after ${QUIET_MAX}s ($((100 * (b - a) / TICK))% of a core); measuring anyway"
}

wait_ready() { # $1 url; up to 20 s
  local i
  for i in $(seq 1 200); do
    curl -sf -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  return 1
}

tree_pids() { # a pid and its children (a primary and its workers; nginx's master and worker)
  echo "$1"
  pgrep -P "$1" || true
}

cpu_ticks() { # utime+stime of the tree, in clock ticks
  local t=0 p v
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

hwm_kb() { # sum of peak RSS over the tree, in KiB
  local t=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

self_child_ticks() { # cutime+cstime of this shell: CPU of the children it has reaped (wrk, h2load)
  sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'
}
