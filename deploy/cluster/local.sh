#!/usr/bin/env bash
# N replicas of an app behind HAProxy, with one coturn for all of them, on 127.0.0.1.
#
#   deploy/cluster/local.sh N APP.py          # a Gradio app: `python APP.py` (demo.launch())
#   deploy/cluster/local.sh N module:app      # a FastAPI app (Stream.mount): uvicorn module:app
#
# The first line printed is the front URL (HAProxy). Then one line per replica start:
#   replica I pid PID port PORT
# Runs in the foreground. A replica that exits (after its drain) is started again on its port, as
# a Deployment would: `kill -TERM PID` of one replica is one step of a rolling restart. SIGTERM (or
# Ctrl-C) to this script is passed on to every replica (they drain: live calls go on up to
# GRADIO_WEBRTC_DRAIN_S), then HAProxy and coturn stop.
#
# Environment: PYTHON (default python3; its environment has gradio_webrtc), FRONT_PORT (default:
# a free port), GRADIO_WEBRTC_DRAIN_S, GRADIO_WEBRTC_TURN_RELAY_ONLY (1: replicas send media only
# through coturn, as replicas without public UDP must). Logs go to a temporary folder named on the
# second line. Needs the Debian packages haproxy and coturn (`make system-deps`).
set -uo pipefail

if [ $# -ne 2 ] || ! [ "$1" -ge 1 ] 2>/dev/null; then
	echo "usage: $0 N APP.py|module:app" >&2
	exit 2
fi
N=$1
APP=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
for tool in haproxy turnserver "$PYTHON"; do
	command -v "$tool" >/dev/null || { echo "$0: $tool not found (make system-deps installs haproxy and coturn)" >&2; exit 1; }
done

free_port() { # $1: tcp or udp
	"$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

WORK=$(mktemp -d -t gradio-webrtc-cluster.XXXXXX)
FRONT_PORT=${FRONT_PORT:-$(free_port tcp)}
TURN_PORT=$(free_port udp)
SECRET=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))')
PORTS=()
PIDS=()
STOPPING=0

# One coturn for every replica: time-limited credentials (TURN REST API) that each replica computes
# from the shared secret (GRADIO_WEBRTC_TURN_SECRET), so no replica needs public UDP.
turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$TURN_PORT" \
	--allow-loopback-peers --realm=gradio-webrtc.local --use-auth-secret --static-auth-secret="$SECRET" \
	--no-tls --no-dtls --no-cli --min-port=50000 --max-port=50999 \
	--log-file="$WORK/coturn.log" --simple-log >/dev/null 2>&1 &
TURN_PID=$!

start_replica() { # $1: index
	local i=$1 port=${PORTS[$1]}
	local env=(
		GRADIO_SERVER_NAME=127.0.0.1 GRADIO_SERVER_PORT="$port" GRADIO_ANALYTICS_ENABLED=False
		GRADIO_WEBRTC_TURN_SECRET="$SECRET" GRADIO_WEBRTC_TURN_URLS="turn:127.0.0.1:$TURN_PORT?transport=udp"
		GRADIO_WEBRTC_AFFINITY_COOKIE=gw_replica
	)
	if [[ "$APP" == *.py ]]; then
		env "${env[@]}" "$PYTHON" "$APP" >>"$WORK/replica-$i.log" 2>&1 &
	else
		env "${env[@]}" "$PYTHON" -m uvicorn "$APP" --host 127.0.0.1 --port "$port" >>"$WORK/replica-$i.log" 2>&1 &
	fi
	PIDS[i]=$!
	echo "replica $i pid ${PIDS[i]} port $port"
}

cfg="$WORK/haproxy.cfg"
sed "s/FRONT_BIND/127.0.0.1:$FRONT_PORT/" "$HERE/haproxy.cfg" >"$cfg"
for i in $(seq 1 "$N"); do
	PORTS[i]=$(free_port tcp)
	echo "    server r$i 127.0.0.1:${PORTS[i]} cookie r$i check" >>"$cfg"
done
haproxy -W -db -f "$cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!

echo "http://127.0.0.1:$FRONT_PORT"
echo "logs $WORK"
for i in $(seq 1 "$N"); do
	start_replica "$i"
done

stop() {
	STOPPING=1
	echo "stopping: the replicas drain"
	for i in $(seq 1 "$N"); do
		kill -TERM "${PIDS[i]}" 2>/dev/null
	done
	for i in $(seq 1 "$N"); do
		wait "${PIDS[i]}" 2>/dev/null
	done
	kill -TERM "$HAPROXY_PID" "$TURN_PID" 2>/dev/null
	wait "$HAPROXY_PID" "$TURN_PID" 2>/dev/null
	rm -rf "$WORK"
	echo "stopped"
	exit 0
}
trap stop TERM INT

# Supervise: a replica that exited is started again (after its drain, or a crash).
while [ "$STOPPING" -eq 0 ]; do
	for i in $(seq 1 "$N"); do
		if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
			wait "${PIDS[i]}" 2>/dev/null
			echo "replica $i exited (status $?)"
			sleep 0.5
			[ "$STOPPING" -eq 0 ] && start_replica "$i"
		fi
	done
	if ! kill -0 "$HAPROXY_PID" 2>/dev/null; then
		echo "haproxy exited; see $WORK/haproxy.log" >&2
		stop
	fi
	sleep 0.5 &
	wait $! 2>/dev/null
done
