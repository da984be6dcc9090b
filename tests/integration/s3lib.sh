# tests/integration/s3lib.sh: shell helpers shared by servers.sh and s3ctl.sh
# (sourced, not run). Paths, ports, liveness, signed curl requests.
#
# Layout under $SV_S3_DIR (default build/s3servers):
#   ceph/            one Ceph cluster: ceph.conf, mon/, osd/ (bluestore on a
#                    sparse file), run/*.pid, log/; gateways ceph1..ceph3
#   swift1..swift3/  one Swift all-in-one node each: etc/, node/, run/, log/
#   env              what the tests read (S3_SERVERS, S3_<NAME>_*)
#
# Ports (base $SV_S3_PORT_BASE, default 17400), all on 127.0.0.1:
#   base+1, +2       ceph-mon (msgr v2, v1)
#   base+10..+12     radosgw ceph1..ceph3 (the S3 endpoints)
#   base+20+10*(i-1) swift i proxy (S3 endpoint); +1 account, +2 container,
#                    +3 object server, +4 its memcached
#   base+50..+99     ceph-osd messenger ports

SV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SV_S3_DIR=${SV_S3_DIR:-$SV_ROOT/build/s3servers}
SV_S3_PORT_BASE=${SV_S3_PORT_BASE:-17400}
SV_PY=/usr/bin/python3
CEPH_NAMES=(ceph1 ceph2 ceph3)
SWIFT_NAMES=(swift1 swift2 swift3)

# A process is alive if it exists and is not a zombie: a killed daemon whose
# parent (init here) does not reap it stays a zombie, and kill -0 succeeds on
# zombies.
sv_alive() {
  local st
  [ -n "${1:-}" ] || return 1
  st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [[ "$st" != Z* ]]
}

sv_pid_alive() { # pidfile
  [ -f "$1" ] && sv_alive "$(cat "$1")"
}

# Something accepts connections on 127.0.0.1:PORT.
sv_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Stop one daemon: TERM (and CONT, so a paused one can act on it), wait up
# to 10 s, then KILL. The pid file goes.
sv_kill_pidfile() {
  local f=$1 p i
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if sv_alive "$p"; then
    kill -TERM "$p" 2>/dev/null || true
    kill -CONT "$p" 2>/dev/null || true
    for i in $(seq 1 100); do sv_alive "$p" || break; sleep 0.1; done
    if sv_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    for i in $(seq 1 50); do sv_alive "$p" || break; sleep 0.1; done
  fi
  rm -f "$f"
}

# Start a daemon in its own session, output to a log, pid to a file. In a
# script (no job control) the background child is not a group leader, so
# setsid execs in place and $! is the daemon itself. fd 9 (servers.sh's
# lock) is not passed on.
sv_spawn() { # pidfile logfile cmd...
  local pf=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$pf"
}

sv_urlenc() {
  $SV_PY -c 'import sys,urllib.parse as u;print(u.quote(sys.argv[1],safe="-_.~"))' "$1"
}

# curl with SigV4 for one server described by S3_<NAME>_* variables.
# Usage: sv_s3curl NAME PATH [curl args...]; PATH starts with "/".
# The access key may contain ':' (Swift tempauth "account:user"), and curl's
# --user splits at the first colon, so the pair travels URL-encoded in the
# URL's userinfo instead.
sv_s3curl() {
  local n=${1^^} path=$2 ep ak sk rg
  shift 2
  eval "ep=\$S3_${n}_ENDPOINT ak=\$S3_${n}_ACCESS_KEY sk=\$S3_${n}_SECRET_KEY rg=\$S3_${n}_REGION"
  curl -s --max-time 30 --aws-sigv4 "aws:amz:$rg:s3" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$@" "http://$(sv_urlenc "$ak"):$(sv_urlenc "$sk")@${ep#http://}$path"
}

sv_load_env() {
  [ -f "$SV_S3_DIR/env" ] || { echo "no $SV_S3_DIR/env: run tests/integration/servers.sh start" >&2; return 1; }
  # shellcheck disable=SC1091
  . "$SV_S3_DIR/env"
}
