#!/usr/bin/env bash
# The same command on the three engines: embedded, DataFusion in this process, and a
# Ballista cluster of a scheduler and two executors started from the same binary on this
# machine. Prints one line per run: command, engine, run, seconds, and peak resident
# memory of the client and (on the cluster) of the scheduler and each executor.
#
#   cargo build --release -p rapport-cli --features cluster
#   bench/engines.sh target/release/rapport WORKSPACE RUNS summary clv analyze
#
# RAPPORT_BENCH_ENGINES=ballista runs only the cluster (default: all three);
# RAPPORT_BENCH_EXECUTOR_MEMORY=SIZE gives each executor --memory-limit SIZE;
# RAPPORT_BENCH_MEMORY=SIZE gives the DataFusion runs --memory-limit SIZE.
#
# The cluster is started afresh for each command (so an executor's peak is that
# command's), its executors with --concurrency 1 each: two tasks at a time on two cores,
# as DataFusion runs two partitions here. Peaks of the cluster processes are their
# VmHWM when the command's runs are done.
set -euo pipefail
bin=$(realpath "$1")
workspace=$2
runs=${3:-3}
shift 3
port=${RAPPORT_BENCH_PORT:-50150}

command_args() {
  case $1 in
    summary) echo "summary --workspace $workspace -q --format csv" ;;
    clv) echo "clv predict --workspace $workspace --time-unit weeks -q --format csv" ;;
    analyze) echo "analyze --workspace $workspace -q --format json ${RAPPORT_BENCH_AS_OF:+--as-of $RAPPORT_BENCH_AS_OF}" ;;
    *) echo "unknown command $1" >&2; exit 2 ;;
  esac
}

peak() { awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$1/status"; }
# (a process that has just exited may be a zombie, whose status has no VmRSS: 0 then)
rss_mib() { local rss; rss=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status" 2> /dev/null || true); echo "${rss:-0}"; }
# RAPPORT_BENCH_LIMIT_MIB: stop a run whose client or any executor holds more than this
# (so that a plan too large for the machine is reported, not killed by the kernel).
limit=${RAPPORT_BENCH_LIMIT_MIB:-0}
executors=()

run_once() { # command engine run
  local args
  args=$(command_args "$1")
  local engine_args=""
  [ "$2" = embedded ] || engine_args="--engine $2"
  [ "$2" != datafusion ] || [ -z "${RAPPORT_BENCH_MEMORY:-}" ] || engine_args="$engine_args --memory-limit $RAPPORT_BENCH_MEMORY"
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e %M" -o /tmp/engines-time.$$ "$bin" $args $engine_args > /dev/null &
  local timer=$! start=$SECONDS over=""
  while kill -0 "$timer" 2> /dev/null; do
    if [ "$limit" -gt 0 ]; then
      local client
      # (no child: the command has just finished; under pipefail that is not an error)
      client=$(pgrep -P "$timer" | head -1 || true)
      for pid in $client "${executors[@]}"; do
        if [ "$(rss_mib "$pid")" -gt "$limit" ]; then over="$pid"; fi
      done
      if [ -n "$over" ]; then
        printf '%s\t%s\t%s\tstopped after %s s: a process passed %s MiB' "$1" "${2%%://*}" "$3" "$((SECONDS - start))" "$limit"
        # The executors' peaks so far, before they are stopped with the client.
        for pid in "${executors[@]}"; do printf ' (executor %s)' "$(peak "$pid" 2> /dev/null)"; done
        kill "$client" "${executors[@]}" 2> /dev/null || true
        wait "$timer" 2> /dev/null || true
        return
      fi
    fi
    sleep 0.5
  done
  local status=0
  wait "$timer" || status=$?
  # (time's last line: a failed command's file starts with "Command exited with …")
  read -r seconds kib < <(tail -1 /tmp/engines-time.$$)
  local failed=""
  [ "$status" = 0 ] || failed=" (failed: exit $status)"
  printf '%s\t%s\t%s\t%s s\t%.0f MiB%s' "$1" "${2%%://*}" "$3" "$seconds" "$((kib / 1024))" "$failed"
}

engines=${RAPPORT_BENCH_ENGINES:-embedded datafusion ballista}
executor_memory=()
[ -z "${RAPPORT_BENCH_EXECUTOR_MEMORY:-}" ] || executor_memory=(--memory-limit "$RAPPORT_BENCH_EXECUTOR_MEMORY")

for command in "$@"; do
  for run in $(seq "$runs"); do
    for engine in embedded datafusion; do
      case " $engines " in *" $engine "*) run_once "$command" "$engine" "$run"; echo ;; esac
    done
  done
  case " $engines " in *" ballista "*) ;; *) continue ;; esac
  work=$(mktemp -d)
  "$bin" cluster scheduler --bind "127.0.0.1:$port" > "$work/scheduler.log" 2>&1 &
  scheduler=$!
  sleep 2
  executors=()
  for index in 1 2; do
    executor_port=$((port + 10 * index))
    "$bin" cluster executor --scheduler "127.0.0.1:$port" --bind "127.0.0.1:$executor_port" --concurrency 1 \
      --work-dir "$work/executor$index" "${executor_memory[@]}" > "$work/executor$index.log" 2>&1 &
    executors+=($!)
  done
  sleep 5
  for run in $(seq "$runs"); do
    run_once "$command" "ballista://127.0.0.1:$port" "$run"; echo
  done
  printf '%s\tcluster peaks\tscheduler %s\texecutors %s, %s\n' "$command" "$(peak "$scheduler")" "$(peak "${executors[0]}" 2> /dev/null)" "$(peak "${executors[1]}" 2> /dev/null)"
  kill "$scheduler" "${executors[@]}" 2> /dev/null || true
  wait "$scheduler" "${executors[@]}" 2> /dev/null || true
  executors=()
  rm -rf "$work"
done
