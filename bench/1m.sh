#!/usr/bin/env bash
# bench/1m.sh: `make bench-1m` (issue 15), not part of `make test`.
#
# COUNT idle heartbeating connections (default 1 000 000) opened against one
# sockserv on this machine and held HOLD seconds (default 300), then one row
# for BENCHMARKS.md on standard output: connections held, closed by the
# server (must be 0), ramp time and rate, the server's CPU while holding (% of
# one core, /proc of master + workers over the hold), user-space and kernel
# bytes per connection, heartbeats per second the server counted.
# Exit 0 only when every connection was opened and held and none was closed.
#
# What it sizes from the machine:
#   workers      ceil(COUNT / (90 % of the descriptor limit)) + a margin, so
#                that SO_REUSEPORT's uneven hashing never sends a worker more
#                than its descriptors allow (connections would wait in its queue)
#   max_connections  workers x what one worker can hold beside its listeners
#   heartbeat    clients PING every HB s (default 60); the server's
#                heartbeat_timeout is 3 x HB, so a client process that falls
#                behind during the ramp has 2 x HB of slack before a close
#   load         sockserv-bench -S auto -P auto (<= 4 000 connections per
#                source address, processes from the descriptor limit), its
#                ramp limit scaling with COUNT
#   kernel       as root: raises (never lowers) tcp_mem, somaxconn, file-max
#                and the ephemeral port range where they are too small for
#                COUNT, and restores every value it changed on exit, however
#                it exits (Ctrl-C included)
#
# Bounded: the load has a deadline (ramp limit + HOLD + 120 s) and the run is
# stopped if the machine's available memory falls below MIN_AVAIL_MB.  Every
# process it starts runs in its own process group and is killed by group on
# exit.  Environment: COUNT, HOLD, HB, BUILD (default build), RAMP_TIMEOUT
# (seconds; default sockserv-bench's own), MIN_AVAIL_MB (default 1024),
# KEEP=1 keeps the work directory (configuration, logs, JSON).
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh

BUILD=${BUILD:-build}
COUNT=${COUNT:-1000000}
HOLD=${HOLD:-300}
HB=${HB:-60}
MIN_AVAIL_MB=${MIN_AVAIL_MB:-1024}
RAMP_TIMEOUT=${RAMP_TIMEOUT:-}
KEEP=${KEEP:-0}

die() { echo "1m.sh: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

is_uint "$COUNT" && [ "$COUNT" -ge 1 ] || die "COUNT=$COUNT: a number of connections"
is_uint "$HOLD" && [ "$HOLD" -ge 1 ] || die "HOLD=$HOLD: whole seconds"
is_uint "$HB" && [ "$HB" -ge 1 ] || die "HB=$HB: whole seconds"
is_uint "$MIN_AVAIL_MB" || die "MIN_AVAIL_MB=$MIN_AVAIL_MB: a number of MB"
[ -z "$RAMP_TIMEOUT" ] || is_uint "$RAMP_TIMEOUT" || die "RAMP_TIMEOUT=$RAMP_TIMEOUT: whole seconds"
for p in sockserv sockserv-bench; do
	[ -x "$BUILD/$p" ] || die "$BUILD/$p missing: run 'make bench-1m'"
done

# ---- sizing ---------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
PER=$((NOFILE * 9 / 10))
WORKERS=$(( (COUNT + PER - 1) / PER ))
WORKERS=$((WORKERS + 2 + WORKERS / 20))
[ "$WORKERS" -le 256 ] || die "$COUNT connections need $WORKERS workers at $NOFILE descriptors each; sockserv has at most 256"
# the server keeps 64 + workers x listeners descriptors beside its clients (master.c)
MAXCONN=$((WORKERS * (NOFILE - 64 - WORKERS - 16)))
TIMEOUT=$((HB * 3))
BACKLOG=4096

# ~10 kB per connection was measured at 50 000 and 200 000 (Slab: both ends'
# kernel sockets; user space is ~0.2 kB more): refuse a run the machine
# cannot hold with MIN_AVAIL_MB to spare
AVAIL_MB=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
NEED_MB=$((COUNT * 10 / 1024 + MIN_AVAIL_MB))
[ "$AVAIL_MB" -ge "$NEED_MB" ] ||
	die "$COUNT connections need about $NEED_MB MB available, the machine has $AVAIL_MB MB"

work=$(mktemp -d "${TMPDIR:-/tmp}/sockserv-1m.XXXXXX") || exit 1
SRV_PID=""
BENCH_PID=""
declare -A SAVED=()	# sysctl -> value before this run, for those changed

sysctl_get() { sysctl -n "$1" 2>/dev/null | tr -s ' \t' ' '; }
sysctl_set() {
	local key=$1 val=$2 old
	old=$(sysctl_get "$key") || return 1
	[ "$old" = "$val" ] && return 0
	[ -n "${SAVED[$key]+x}" ] || SAVED[$key]=$old
	if sysctl -q -w "$key=$val" >/dev/null 2>&1; then
		log "  sysctl $key = $val (was $old)"
	else
		log "  sysctl $key = $val refused; left at $old"
		unset "SAVED[$key]"
	fi
}

kill_group() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 -- "-$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
}

cleanup() {
	local key
	trap '' INT TERM HUP
	kill_group "$BENCH_PID"
	kill_group "$SRV_PID"
	[ -n "$BENCH_PID" ] && wait "$BENCH_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && wait "$SRV_PID" 2>/dev/null
	for key in "${!SAVED[@]}"; do
		if sysctl -q -w "$key=${SAVED[$key]}" >/dev/null 2>&1; then
			log "  sysctl $key restored to ${SAVED[$key]}"
		else
			log "  sysctl $key: could not restore ${SAVED[$key]}"
		fi
	done
	if [ "$KEEP" = 1 ]; then
		log "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ---- kernel settings for the run ------------------------------------------
# Only raised, never lowered, and each one restored by cleanup().
if [ "$(id -u)" = 0 ]; then
	log "kernel settings for $COUNT connections (restored on exit)"
	read -r lo pr hi <<<"$(sysctl_get net.ipv4.tcp_mem)"
	# pages: pressure at one page per connection, the hard limit at two; idle
	# sockets hold none, so this only matters while replies wait to be read
	want_lo=$((COUNT / 4)); want_pr=$COUNT; want_hi=$((COUNT * 2))
	[ "$lo" -gt "$want_lo" ] && want_lo=$lo
	[ "$pr" -gt "$want_pr" ] && want_pr=$pr
	[ "$hi" -gt "$want_hi" ] && want_hi=$hi
	sysctl_set net.ipv4.tcp_mem "$want_lo $want_pr $want_hi"
	[ "$(sysctl_get net.core.somaxconn)" -ge "$BACKLOG" ] ||
		sysctl_set net.core.somaxconn "$BACKLOG"
	[ "$(sysctl_get net.ipv4.tcp_max_syn_backlog)" -ge "$BACKLOG" ] ||
		sysctl_set net.ipv4.tcp_max_syn_backlog "$BACKLOG"
	# two descriptors per connection on this machine (client and server)
	want=$((COUNT * 2 + 200000))
	[ "$(sysctl_get fs.file-max)" -ge "$want" ] || sysctl_set fs.file-max "$want"
	# -S auto puts at most 4 000 connections on a source address: any range
	# of 10 000 ports or more leaves the port search room
	read -r plo phi <<<"$(sysctl_get net.ipv4.ip_local_port_range)"
	[ $((phi - plo)) -ge 10000 ] || sysctl_set net.ipv4.ip_local_port_range "32768 60999"
else
	log "not root: kernel settings left as they are (tcp_mem $(sysctl_get net.ipv4.tcp_mem))"
fi

# ---- the server -----------------------------------------------------------
PORT=$(free_port)
CFG=$work/sockserv.cfg
cat >"$CFG" <<EOF
# generated by bench/1m.sh for $COUNT connections
workers = $WORKERS;
event_backend = "epoll";
pid_file = "$work/sockserv.pid";
stats_path = "$work/sockserv.shm";
stats_interval = 0;
hung_timeout = 60;
log = { target = "$work/sockserv.log"; level = "warn"; };
limits = { max_connections = $MAXCONN; backlog = $BACKLOG; };
listeners = ( { name = "bench1m"; address = "127.0.0.1"; port = $PORT;
	codec = "frame"; handler = "echo";
	heartbeat_timeout = $TIMEOUT; first_message_timeout = $TIMEOUT; } );
EOF
log "sockserv: $WORKERS workers (descriptor limit $NOFILE), max_connections $MAXCONN, heartbeat_timeout $TIMEOUT s, port $PORT"
# setsid: the master and its workers in a group of their own, killed as one
setsid "$BUILD/sockserv" -f -c "$CFG" >"$work/sockserv.out" 2>&1 &
SRV_PID=$!
own_group() { [ "$(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ')" = "$1" ]; }
sleep 0.2
own_group "$SRV_PID" || die "sockserv (pid $SRV_PID) is not in a process group of its own"
for i in $(seq 200); do
	kill -0 "$SRV_PID" 2>/dev/null || break
	if [ "$(pgrep -c -P "$SRV_PID")" -ge "$WORKERS" ] &&
	    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if ! kill -0 "$SRV_PID" 2>/dev/null || [ "$(pgrep -c -P "$SRV_PID")" -lt "$WORKERS" ]; then
	cat "$work/sockserv.out" "$work/sockserv.log" >&2 2>/dev/null
	die "sockserv did not start"
fi
sleep 1	# the probe connection above is gone before the baseline is taken

# ---- the load ---------------------------------------------------------------
ARGS=(idle -p "$PORT" -c "$COUNT" -i "$HB" -t "$HOLD" -S auto -P auto
	--server "$SRV_PID" --stats "$work/sockserv.shm" --json)
[ -n "$RAMP_TIMEOUT" ] && ARGS+=(--ramp-timeout "$RAMP_TIMEOUT")
RAMP_LIMIT=${RAMP_TIMEOUT:-$(( COUNT / 2000 > 60 ? COUNT / 2000 : 60 ))}
DEADLINE=$(( $(date +%s) + RAMP_LIMIT + HOLD + 120 ))
log "load: sockserv-bench ${ARGS[*]}"
log "  ramp limit ${RAMP_LIMIT} s, hold $HOLD s, heartbeat every $HB s; stopped if it runs past $(date -u -d "@$DEADLINE" +%H:%M:%S) UTC or available memory falls under $MIN_AVAIL_MB MB"
# progress lines go to the terminal when there is one, else to a file
if [ -t 2 ]; then
	setsid "$BUILD/sockserv-bench" "${ARGS[@]}" >"$work/bench.json" &
else
	setsid "$BUILD/sockserv-bench" "${ARGS[@]}" >"$work/bench.json" 2>"$work/bench.err" &
fi
BENCH_PID=$!
sleep 0.2
own_group "$BENCH_PID" || die "sockserv-bench (pid $BENCH_PID) is not in a process group of its own"
STOPPED=""
MIN_SEEN=$AVAIL_MB
while kill -0 "$BENCH_PID" 2>/dev/null; do
	avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
	[ "$avail" -lt "$MIN_SEEN" ] && MIN_SEEN=$avail
	if [ "$avail" -lt "$MIN_AVAIL_MB" ]; then
		STOPPED="available memory fell to $avail MB"
	elif [ "$(date +%s)" -ge "$DEADLINE" ]; then
		STOPPED="the load ran past its deadline"
	elif ! kill -0 "$SRV_PID" 2>/dev/null; then
		STOPPED="sockserv exited"
	fi
	if [ -n "$STOPPED" ]; then
		log "stopping: $STOPPED"
		kill_group "$BENCH_PID"
		break
	fi
	sleep 1
done
wait "$BENCH_PID"
BENCH_RC=$?
BENCH_PID=""
[ -f "$work/bench.err" ] && tail -40 "$work/bench.err" >&2
J=$(cat "$work/bench.json")
[ -n "$J" ] || die "sockserv-bench exited $BENCH_RC without a report${STOPPED:+ ($STOPPED)}"

jget() { sed -n "s/.*\"$1\": \\([^,}]*\\).*/\\1/p" <<<"$J" | tr -d '"'; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
CONNECTED=$(jget connected); FAILED=$(jget connect_failed); CLOSED=$(jget server_closed)
HELD=$(jget open_at_end); RAMP=$(jget ramp_s); RATE=$(jget connect_rate)
CPU=$(jget server_cpu_pct); USER_B=$(jget rss_bytes_per_conn); KERN_B=$(jget kernel_bytes_per_conn)
HBS=$(jget server_msgs_in_per_s); HOLD_S=$(jget hold_s); LAG=$(jget max_hb_lag_s)
PROCS=$(jget processes); SOURCES=$(jget sources); TCPEND=$(jget tcp_mem_pages_end)
FULL=$(grep -c "server full\|accept paused" "$work/sockserv.log" 2>/dev/null)
log "held $HELD of $COUNT for $HOLD_S s; closed by the server $CLOSED, failed $FAILED; ramp $RAMP s ($RATE/s) from $PROCS processes over $SOURCES addresses; latest heartbeat ${LAG} s late; TCP buffer pages at the end $TCPEND; least memory available ${MIN_SEEN} MB; 'server full'/'accept paused' log lines: $FULL"

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "| date | asked | held for | held at the end | closed by the server | failed | ramp | server CPU while holding | user space / connection | kernel / connection (both ends) | heartbeats/s handled | workers / load processes / source addresses | commit |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
echo "| $(date -u +%Y-%m-%d) | $COUNT | $(calc "$HOLD_S" 0) s | **$HELD** | $CLOSED | $FAILED | $(calc "$RAMP" 1) s ($(calc "$RATE" 0) conns/s) | $(calc "${CPU:-0}" 2) % of a core | $(calc "${USER_B:-0}" 1) B | $(calc "${KERN_B:-0}" 0) B | $(calc "${HBS:-0}" 0) | $WORKERS / $PROCS / $SOURCES | $COMMIT |"

if [ -n "$STOPPED" ] || [ "$BENCH_RC" != 0 ] || [ "$CLOSED" != 0 ] || [ "$FAILED" != 0 ] ||
    [ "$HELD" != "$COUNT" ]; then
	log "FAILED: ${STOPPED:-$(jget failure)} (sockserv-bench exit $BENCH_RC)"
	exit 1
fi
log "ok: $COUNT held $HOLD s, none closed"
exit 0
