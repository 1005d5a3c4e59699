#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with a RADOS Gateway on 127.0.0.1, for
# the S3 interop tests. Debian 12's Ceph 16 packages are fetched with
# `apt-get download` and unpacked with `dpkg -x` into a cache directory:
# nothing is installed system-wide.
#
#   scripts/rgw.sh fetch    download and unpack the packages (once; cached)
#   scripts/rgw.sh start    mon + one memstore OSD + radosgw; prints the endpoint and keys
#   scripts/rgw.sh stop     stops what start started and removes its state
#
# Environment: RGW_CACHE (default ~/.cache/vhdx-stream/ceph), RGW_STATE
# (default /tmp/vhdx-rgw), RGW_PORT (default 7480), RGW_MEMSTORE_BYTES (the
# OSD's store, kept in RAM: default 2 GiB; the S3 bench asks for more).
# start refuses when another gateway (another state folder) holds the ports.
set -euo pipefail
export PYTHONWARNINGS=ignore
CACHE=${RGW_CACHE:-$HOME/.cache/vhdx-stream/ceph}
STATE=${RGW_STATE:-/tmp/vhdx-rgw}
PORT=${RGW_PORT:-7480}
MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-2147483648}
MON_PORT=6789
ROOT=$CACHE/root
PACKAGES="radosgw ceph-mon ceph-osd ceph-common ceph-base"

fetch() {
  [ -e "$ROOT/.done" ] && return 0
  mkdir -p "$CACHE/debs" "$ROOT"
  # the packages and every dependency not already installed on this machine
  local wanted
  wanted=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $PACKAGES | grep '^[a-z0-9]' | sort -u |
    while read -r p; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  (cd "$CACHE/debs" && apt-get download $wanted)
  for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
  touch "$ROOT/.done"
}

env_for_ceph() {
  export LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu/ceph:$ROOT/usr/lib:${LD_LIBRARY_PATH:-}"
  export PATH="$ROOT/usr/bin:$ROOT/usr/sbin:$PATH"
  export PYTHONPATH="$ROOT/usr/lib/python3/dist-packages:${PYTHONPATH:-}"
  export CEPH_CONF="$STATE/ceph.conf"
}

# Daemons an earlier start left running with this state folder's config (its pid files
# may be gone with the folder): ended, so the ports are free again.
end_leftovers() {
  local pids
  pids=$(pgrep -f -- "-c $STATE/ceph.conf" || true)
  [ -n "$pids" ] || return 0
  kill $pids 2>/dev/null || true
  for _ in $(seq 50); do
    pgrep -f -- "-c $STATE/ceph.conf" >/dev/null || return 0
    sleep 0.2
  done
  kill -9 $pids 2>/dev/null || true
  sleep 0.5
}

# Whether something listens on 127.0.0.1:$1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A gateway of another state folder on our ports: refused, never taken down.
refuse_taken_ports() {
  local port
  for port in "$PORT" "$MON_PORT"; do
    listening "$port" || continue
    local others
    others=$(pgrep -af -- '(radosgw|ceph-mon|ceph-osd) .*-c ' | grep -v -- "-c $STATE/ceph.conf" | sed 's/^/  /' || true)
    echo "rgw.sh: port $port on 127.0.0.1 is in use${others:+ by a gateway of another state folder:}" >&2
    [ -n "$others" ] && echo "$others" >&2
    echo "rgw.sh: stop it with RGW_STATE=<its folder> $0 stop (this one's is $STATE); nothing was started" >&2
    exit 1
  done
}

start() {
  fetch
  env_for_ceph
  end_leftovers
  refuse_taken_ports
  rm -rf "$STATE" && mkdir -p "$STATE"/{mon,osd,rgw,run,log}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1:$MON_PORT
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
run dir = $STATE/run
pid file = $STATE/run/\$name.pid
log file = $STATE/log/\$name.log
erasure code dir = $ROOT/usr/lib/x86_64-linux-gnu/ceph/erasure-code
plugin dir = $ROOT/usr/lib/x86_64-linux-gnu/rados-classes
osd class dir = $ROOT/usr/lib/x86_64-linux-gnu/rados-classes
[mon.a]
mon data = $STATE/mon
[osd.0]
osd data = $STATE/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $STATE/rgw
rgw dns name = 127.0.0.1
# deleted objects and aborted parts freed within seconds (default: after 2 hours), so
# that the in-RAM store does not fill with what the tests and the bench removed
rgw gc obj min wait = 0
rgw gc processor period = 5
CONF
  monmaptool --create --add a 127.0.0.1:$MON_PORT --fsid "$fsid" "$STATE/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$STATE/monmap" -c "$CEPH_CONF"
  ceph-mon -i a -c "$CEPH_CONF"
  ceph osd create >/dev/null
  ceph-osd -i 0 --mkfs -c "$CEPH_CONF"
  ceph-osd -i 0 -c "$CEPH_CONF"
  radosgw -n client.rgw -c "$CEPH_CONF"
  for _ in $(seq 60); do curl -s "http://127.0.0.1:$PORT" >/dev/null && break; sleep 1; done
  radosgw-admin -c "$CEPH_CONF" user create --uid=test --display-name=test \
    --access-key=vhdxtest --secret=vhdxtestsecret >/dev/null
  echo "AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=vhdxtest AWS_SECRET_ACCESS_KEY=vhdxtestsecret AWS_REGION=us-east-1"
}

stop() {
  local pids=()
  for name in radosgw ceph-osd ceph-mon; do
    for pidfile in "$STATE"/run/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then kill "$pid" && pids+=("$pid"); fi
    done
  done
  # wait for each to end (a zombie has ended), then make sure
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      state=$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null || echo gone)
      [ "$state" = gone ] || [ "$state" = Z ] && break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  end_leftovers
  rm -rf "$STATE"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 fetch|start|stop" >&2; exit 2 ;;
esac
