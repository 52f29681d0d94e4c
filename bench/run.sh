#!/usr/bin/env bash
# Compares the local adapter (go run ./local) with the Socket.IO chat
# tutorial's server (bench/socketio) under identical load from
# bench/loadgen: the same N clients in one room, the same S senders, the same
# offered message rates, the same duration and text size.
#
# Usage: bench/run.sh                       # the default sweep (N=1000, S=10)
#        CLIENTS=200 RATES="50 100" DURATION=5s bench/run.sh
#        SERVERS=socketio bench/run.sh      # one side only
#        PROFILE=1 bench/run.sh             # also a CPU profile of ./local per run (-cpuprofile <run>.cpu.pprof)
#
# Settings (environment):
#   CLIENTS   N connections, all in one room               (default 1000)
#   SENDERS   S of them send                               (default 10)
#   RATES     total offered messages/s, one run each       (default "20 50 100 200 400 800")
#   DURATION  send time per run                            (default 10s)
#   MESSAGES  messages per sender instead of DURATION (a burst: with RATES,
#             e.g. MESSAGES=50 and a rate of 100/s a sender is 50 at 10 ms)
#   SIZE      message text size in bytes                   (default 64)
#   DRAIN     longest wait for late deliveries after a run (default 30s)
#   SERVERS   which servers, in order                      (default "apigw ceiling socketio")
#             apigw: ./local; ceiling: bench/ceiling, the minimal Go broadcast
#             server (the ceiling of a Go WebSocket server here); socketio:
#             the Socket.IO tutorial's server
#   ACKS      1: the load generator sends clientMsgIds, so ./local stores each
#             message once and acks it (its whole send path)   (default 1)
#   REPEAT    sweeps to run; the comparison keeps each load's best run (default 1)
#   OUT       results directory                            (default bench/results/<UTC time>)
#   LOCAL_BIN a prebuilt ./local binary to use instead of building one
#
# Each run gets a freshly started server, so its memory per connection
# (VmRSS after N connections minus before, over N) is not skewed by the
# previous run. Everything listens on 127.0.0.1 only. The load generator runs
# on the same machine and shares its CPUs with the server: the numbers say
# what one machine does with both, not what a server does alone.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

CLIENTS=${CLIENTS:-1000}
SENDERS=${SENDERS:-10}
RATES=${RATES:-20 50 100 200 400 800}
DURATION=${DURATION:-10s}
MESSAGES=${MESSAGES:-}
SIZE=${SIZE:-64}
DRAIN=${DRAIN:-30s}
SERVERS=${SERVERS:-apigw ceiling socketio}
ACKS=${ACKS:-1}
CEILING_PORT=${CEILING_PORT:-14000}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
PROFILE=${PROFILE:-0}
REPEAT=${REPEAT:-1}
APIGW_PORT=${APIGW_PORT:-18080}
SOCKETIO_PORT=${SOCKETIO_PORT:-13000}

mkdir -p "$OUT/bin"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Files beyond the default 1024: N client sockets here, N in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "building ./local and ./bench/loadgen into $OUT/bin"
if [[ " $SERVERS " == *" apigw "* ]]; then
	if [[ -n "${LOCAL_BIN:-}" ]]; then
		cp "$LOCAL_BIN" "$OUT/bin/local" # a modified build to compare
	else
		go build -o "$OUT/bin/local" ./local
	fi
fi
go build -o "$OUT/bin/loadgen" ./bench/loadgen
if [[ " $SERVERS " == *" ceiling "* ]]; then
	go build -o "$OUT/bin/ceiling" ./bench/ceiling
fi

if [[ " $SERVERS " == *" socketio "* ]]; then
	if [[ ! -d bench/socketio/node_modules ]]; then
		log "npm ci in bench/socketio"
		(cd bench/socketio && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi

SERVER_PID=
stop_server() {
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		# SIGTERM: ./local closes every connection and, with -cpuprofile,
		# writes its profile before it exits.
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

wait_http() { # url
	for _ in $(seq 300); do
		if curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "server at $1 did not answer in 30s"
	return 1
}

port_free() { # port: waits up to 10 s for it to be free
	for _ in $(seq 100); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "port $1 is taken: $(ss -ltnp "sport = :$1" 2>/dev/null | tail -n +2)"
	return 1
}

start_server() { # server run-name
	local server=$1 name=$2
	case $server in
	apigw)
		port_free "$APIGW_PORT" || return 1
		# Only the send path is timed: no stage throttle (no template), and
		# a send limit that is checked and advanced on every message but
		# never refuses one.
		local args=(-addr "127.0.0.1:$APIGW_PORT" -stage local -template "" -send-burst 1000000 -send-rate 1000000)
		if [[ $PROFILE == 1 ]]; then args+=(-cpuprofile "$OUT/$name.cpu.pprof"); fi
		LOG_LEVEL=${LOG_LEVEL:-warn} "$OUT/bin/local" "${args[@]}" >"$OUT/$name.server.log" 2>&1 &
		SERVER_PID=$!
		wait_http "http://127.0.0.1:$APIGW_PORT/" || return 1
		URL="ws://127.0.0.1:$APIGW_PORT/local"
		;;
	ceiling)
		port_free "$CEILING_PORT" || return 1
		"$OUT/bin/ceiling" -addr "127.0.0.1:$CEILING_PORT" >"$OUT/$name.server.log" 2>&1 &
		SERVER_PID=$!
		wait_http "http://127.0.0.1:$CEILING_PORT/" || return 1
		URL="ws://127.0.0.1:$CEILING_PORT/"
		;;
	socketio)
		port_free "$SOCKETIO_PORT" || return 1
		PORT=$SOCKETIO_PORT HOST=127.0.0.1 node bench/socketio/server.js >"$OUT/$name.server.log" 2>&1 &
		SERVER_PID=$!
		wait_http "http://127.0.0.1:$SOCKETIO_PORT/" || return 1
		URL="ws://127.0.0.1:$SOCKETIO_PORT/socket.io/?EIO=4&transport=websocket"
		;;
	*) log "unknown server $server"; exit 1 ;;
	esac
}

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "go: $(go version)"
	echo "node: $(node --version 2>/dev/null || echo none), socket.io $(node -p "require('./bench/socketio/package.json').dependencies['socket.io']" 2>/dev/null || echo '?')"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')${LOCAL_BIN:+, local adapter from $LOCAL_BIN}"
	echo "settings: CLIENTS=$CLIENTS SENDERS=$SENDERS RATES=\"$RATES\" DURATION=$DURATION SIZE=$SIZE DRAIN=$DRAIN REPEAT=$REPEAT ACKS=$ACKS"
} >"$OUT/environment.txt"
cat "$OUT/environment.txt" >&2

for rep in $(seq "$REPEAT"); do
for rate in $RATES; do
	for server in $SERVERS; do
		name="$server-n$CLIENTS-s$SENDERS-r$rate"
		if [[ $REPEAT -gt 1 ]]; then name+="-$rep"; fi
		if ! start_server "$server" "$name"; then
			log "$name: skipped, the server did not start (see $OUT/$name.server.log)"
			stop_server
			continue
		fi
		log "$name: load average $(cut -d' ' -f1-3 /proc/loadavg)"
		cmd=("$OUT/bin/loadgen" -proto "$server" -url "$URL" -clients "$CLIENTS" -senders "$SENDERS"
			-total-rate "$rate" -duration "$DURATION" -size "$SIZE" -drain "$DRAIN"
			-server-pid "$SERVER_PID" -json -quiet)
		if [[ $server == apigw && $ACKS == 1 ]]; then cmd+=(-acks); fi
		if [[ -n $MESSAGES ]]; then cmd+=(-messages "$MESSAGES"); fi
		echo "${cmd[*]}" >"$OUT/$name.cmd"
		rc=0
		"${cmd[@]}" >"$OUT/$name.json" 2>"$OUT/$name.txt" || rc=$?
		cat "$OUT/$name.txt" >&2
		if [[ $rc == 1 ]]; then log "$name: the load generator could not run (see $OUT/$name.txt)"; fi
		# Load average at the end of the run (1 min), for the record.
		echo "loadavg_after=$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/$name.txt"
		stop_server
	done
done
done

log "results in $OUT"
node "$ROOT/bench/compare.js" "$OUT" | tee "$OUT/comparison.md"
