# What the benchmarks share; sourced by bench/auth.sh, bench/flood.sh and bench/scale.sh after they have
# read their options ($bin, $scratch, $backend).

# Sets $bin: the given binary, or a release build (in $scratch when given).
bench_binary() {
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (or scripts/setup.sh)" >&2; exit 1; }
  [ -n "$bin" ] && return
  local build=(swift build -c release --product keysmith)
  [ -n "$scratch" ] && build+=(--scratch-path "$scratch")
  "${build[@]}" >/dev/null
  bin=$("${build[@]}" --show-bin-path)/keysmith
}

# bench_setup NAME PG_PORT: a temporary folder ($work), the servers' pids ($pids, stopped on exit), the
# sealing key, and $database: a SQLite file in $work, or a throwaway PostgreSQL on PG_PORT.
bench_setup() {
  work=$(mktemp -d "/tmp/keysmith-$1.XXXXXX")
  pg_dir=$(mktemp -d "/tmp/keysmith-$1-pg.XXXXXX")  # its own folder: PostgreSQL runs as another user
  pids=()
  trap bench_cleanup EXIT
  # The key that seals webhook secrets: PostgreSQL needs one given, and every instance the same one.
  export KEYSMITH_ENCRYPTION_KEY=${KEYSMITH_ENCRYPTION_KEY:-$(head -c 32 /dev/urandom | base64)}
  if [ "$backend" = postgres ]; then
    eval "$(scripts/postgres.sh start "$pg_dir" "$2")"
    database=$KEYSMITH_TEST_POSTGRES_URL
  else
    database=$work/bench.sqlite
  fi
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$work" "$pg_dir"
}

# CPU time the servers have used so far, in clock ticks (utime + stime of /proc/PID/stat).
server_ticks() { for pid in "${pids[@]}"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk '{t += $1} END {print t}'; }
