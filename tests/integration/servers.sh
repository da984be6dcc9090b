#!/bin/bash
# tests/integration/servers.sh start|stop|status|clean
#
# Real S3 servers on 127.0.0.1 for the integration tests, one per simulated
# provider, each with its own credentials and bucket:
#   ceph1 ceph2 ceph3     three radosgw gateways (distinct S3 users) on one
#                         small Ceph cluster (1 mon, 1 osd, bluestore on a
#                         sparse file, no cephx, no mgr)
#   swift1 swift2 swift3  three independent OpenStack Swift all-in-one nodes
#                         with the s3api middleware (tempauth users), each
#                         with its own memcached, fsync off (eatmydata)
# Installs nothing: `make deps` installs the Debian packages.
#
# start   starts whatever is not running (quick when all are), waits until
#         each answers a signed request, creates the buckets and writes
#         build/s3servers/env (shell-sourceable; tests/lib/s3servers.c reads it)
# stop    kills every daemon started here; the data stays for a quick restart
# status  one line per server; exit 0 if all answer, 3 otherwise
# clean   stop, then remove build/s3servers
#
# Environment: SV_S3_PORT_BASE (17400; see s3lib.sh for the port map),
# SV_S3_DIR (build/s3servers).
set -euo pipefail
. "$(dirname "$0")/s3lib.sh"
D=$SV_S3_DIR
P=$SV_S3_PORT_BASE
CD=$D/ceph

die() { echo "servers.sh: $*" >&2; exit 1; }

check_installed() {
  local miss=() c
  for c in ceph-mon ceph-osd radosgw radosgw-admin rados ceph monmaptool \
           swift-proxy-server swift-account-server swift-container-server \
           swift-object-server memcached curl flock; do
    command -v "$c" >/dev/null 2>&1 || miss+=("$c")
  done
  [ -x $SV_PY ] || miss+=("$SV_PY")
  [ -x $SV_PY ] && ! $SV_PY -c 'import swift.common.ring' 2>/dev/null && miss+=("python3-swift")
  [ -f /etc/swift/swift.conf ] || miss+=("/etc/swift/swift.conf (package swift)")
  [ ${#miss[@]} -eq 0 ] ||
    die "missing ${miss[*]}: run 'make deps' (installs ceph-mon ceph-osd radosgw ceph-common swift swift-proxy swift-account swift-container swift-object python3-swift memcached)"
}

port_free_or_die() { # port what
  ! sv_port_open "$1" ||
    die "port $1 ($2) is already in use by another process; set SV_S3_PORT_BASE to a free range"
}

# Credentials are made once per data directory and kept, so a restart
# serves the same users.
creds() { # name -> "AK SK"
  local f=$D/creds
  if ! grep -q "^$1 " "$f" 2>/dev/null; then
    local h
    h=$(od -An -tx1 -N30 /dev/urandom | tr -d ' \n')
    case $1 in
      ceph*) echo "$1 SV${1^^}${h:0:12} ${h:12:40}" >>"$f" ;;
      swift*) echo "$1 sv${1#swift}:tester ${h:12:40}" >>"$f" ;;
    esac
  fi
  grep "^$1 " "$f" | head -1 | cut -d' ' -f2-
}

# ---------------------------------------------------------------- Ceph

rgw_port() { echo $((P + 10 + ${1#ceph} - 1)); }

ceph_conf() {
  local fsid=$1 n
  cat <<C
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$((P + 1)),v1:127.0.0.1:$((P + 2))]
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
# auth = none needs the crc on-wire mode everywhere, or radosgw fails with
# "get_initial_auth_request returned -13"
ms cluster mode = crc secure
ms service mode = crc secure
ms client mode = crc secure
ms mon cluster mode = crc secure
ms mon service mode = crc secure
ms mon client mode = crc secure
ms bind ipv4 = true
ms bind ipv6 = false
ms bind port min = $((P + 50))
ms bind port max = $((P + 99))
public network = 127.0.0.0/8
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# the monitor stops itself when its disk is under 5% free
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
run dir = $CD/run
log file = $CD/log/\$name.log
admin socket = $CD/run/\$name.asok
pid file = $CD/run/\$name.daemonpid
keyring = /dev/null
debug ms = 0/0
[mon]
mon data = $CD/mon/\$name
[osd]
osd data = $CD/osd/\$name
osd objectstore = bluestore
bluestore block path = $CD/osd/\$name.block
bluestore block size = 4294967296
bluestore block create = true
osd memory target = 939524096
osd max object size = 134217728
osd op num shards = 1
osd op num threads per shard = 2
[client]
rgw data = $CD/rgw
rgw dns name = 127.0.0.1
rgw thread pool size = 32
# reclaim deleted objects' tails soon, so repeated runs do not fill the disk
rgw gc obj min wait = 30
rgw gc processor period = 60
debug rgw = 0/0
C
  for n in "${CEPH_NAMES[@]}"; do
    printf '[client.rgw.%s]\nrgw frontends = beast endpoint=127.0.0.1:%s\n' "$n" "$(rgw_port "$n")"
  done
}

ceph_osd_up() {
  ceph -c "$CD/ceph.conf" --connect-timeout 10 osd stat 2>/dev/null | grep -q " 1 up"
}

start_rgw() { # name
  local n=$1 port pf=$CD/run/rgw-$1.pid
  port=$(rgw_port "$n")
  sv_pid_alive "$pf" && return 0
  port_free_or_die "$port" "radosgw $n"
  sv_spawn "$pf" "$CD/log/rgw-$n.stdout" radosgw -f -n "client.rgw.$n" -c "$CD/ceph.conf"
}

wait_http() { # port pidfile what
  local i c
  for i in $(seq 1 1200); do
    c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" || true)
    [ "$c" != 000 ] && return 0
    sv_pid_alive "$2" || { tail -20 "$CD/log/"*"$3"* 2>/dev/null >&2 || true; die "$3 died"; }
    sleep 0.1
  done
  die "$3 is not answering on port $1"
}

start_ceph() {
  local C=$CD/ceph.conf fsid u id n
  # a first start that did not finish leaves no marker: begin again
  [ -f "$CD/.complete" ] || rm -rf "$CD"
  mkdir -p "$CD"/{mon,osd,run,log,rgw}
  if [ ! -f "$C" ]; then
    fsid=$(cat /proc/sys/kernel/random/uuid)
    ceph_conf "$fsid" >"$C"
    monmaptool --create --fsid "$fsid" \
      --addv a "[v2:127.0.0.1:$((P + 1)),v1:127.0.0.1:$((P + 2))]" "$CD/monmap" >/dev/null
    ceph-mon --mkfs -i a --monmap "$CD/monmap" -c "$C" >/dev/null
  fi
  if ! sv_pid_alive "$CD/run/mon.pid"; then
    port_free_or_die $((P + 1)) ceph-mon
    port_free_or_die $((P + 2)) ceph-mon
    sv_spawn "$CD/run/mon.pid" "$CD/log/mon.stdout" ceph-mon -f -i a -c "$C"
  fi
  ceph -c "$C" --connect-timeout 30 -s >/dev/null
  if [ ! -f "$CD/osd/osd.0/whoami" ]; then
    u=$(cat /proc/sys/kernel/random/uuid)
    id=$(ceph -c "$C" osd new "$u")
    mkdir -p "$CD/osd/osd.$id"
    ceph-osd -c "$C" -i "$id" --mkfs --osd-uuid "$u" >"$CD/log/osd-mkfs.log" 2>&1
    ceph -c "$C" osd crush add "osd.$id" 1 root=default host=localhost >/dev/null 2>&1 || true
  fi
  if ! sv_pid_alive "$CD/run/osd.pid"; then
    sv_spawn "$CD/run/osd.pid" "$CD/log/osd.stdout" ceph-osd -f -i 0 -c "$C"
  fi
  for u in $(seq 1 600); do ceph_osd_up && break; sleep 0.2; done
  ceph_osd_up || { tail -20 "$CD/log/osd.0.log" >&2; die "ceph osd did not come up"; }
  # The first gateway creates the rgw pools; the others start once it
  # answers, so they do not race on pool creation.
  start_rgw "${CEPH_NAMES[0]}"
  wait_http "$(rgw_port "${CEPH_NAMES[0]}")" "$CD/run/rgw-${CEPH_NAMES[0]}.pid" "rgw-${CEPH_NAMES[0]}"
  for n in "${CEPH_NAMES[@]:1}"; do start_rgw "$n"; done
  for n in "${CEPH_NAMES[@]}"; do
    wait_http "$(rgw_port "$n")" "$CD/run/rgw-$n.pid" "rgw-$n"
    [ -f "$CD/.user-$n" ] && continue
    set -- $(creds "$n")
    radosgw-admin -c "$C" user info --uid "$n" >/dev/null 2>&1 ||
      radosgw-admin -c "$C" user create --uid "$n" --display-name "$n" \
        --access-key "$1" --secret-key "$2" >/dev/null
    touch "$CD/.user-$n"
  done
  touch "$CD/.complete"
}

# ---------------------------------------------------------------- Swift

# A small Swift PUT or DELETE is mostly fsync (object, directories,
# container database); test servers need no durability across a host
# crash, so eatmydata (installed by make deps) turns those fsyncs off.
NOSYNC=
command -v eatmydata >/dev/null 2>&1 && NOSYNC=eatmydata

swift_port() { echo $((P + 20 + 10 * (${1#swift} - 1))); }
# swift3 lives in another region, so the region setting is exercised.
swift_region() { [ "$1" = swift3 ] && echo eu-west-3 || echo us-east-1; }

swift_conf() { # dir port log_level
  cat <<C
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = root
swift_dir = $1/etc
devices = $1/node
mount_check = false
disable_fallocate = true
log_level = WARNING
C
}

start_swift() { # name
  local n=$1 SD=$D/$1 port acc usr key s p
  port=$(swift_port "$n")
  set -- $(creds "$n")
  acc=${1%%:*} usr=${1#*:} key=$2
  [ -f "$SD/.complete" ] || rm -rf "$SD"
  mkdir -p "$SD"/etc "$SD"/node/d1 "$SD"/log "$SD"/run
  for s in account container object; do
    case $s in account) p=$((port + 1)) ;; container) p=$((port + 2)) ;; object) p=$((port + 3)) ;; esac
    { swift_conf "$SD" $p
      printf '[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' $s $s $s
    } >"$SD/etc/$s-server.conf"
  done
  cat >"$SD/etc/proxy-server.conf" <<C
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = $SD/etc
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3api]
use = egg:swift#s3api
location = $(swift_region "$n")

[filter:tempauth]
use = egg:swift#tempauth
user_${acc}_${usr} = ${key} .admin

# each node has its own memcached: without one, every S3 request costs
# extra account and container lookups (3x slower); shared, the nodes would
# see each other's bucket metadata
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$((port + 4))

C
  for f in catch_errors gatekeeper healthcheck proxy-logging listing_formats copy slo dlo; do
    printf '[filter:%s]\nuse = egg:swift#%s\n' $f ${f//-/_}
  done >>"$SD/etc/proxy-server.conf"
  if [ ! -f "$SD/etc/object.ring.gz" ]; then
    # all three rings in one python process (swift-ring-builder would pay
    # the interpreter start-up nine times)
    $SV_PY - "$SD/etc" $((port + 1)) $((port + 2)) $((port + 3)) <<'PY'
import sys
from swift.common.ring import RingBuilder
for name, port in zip(('account', 'container', 'object'), sys.argv[2:5]):
    b = RingBuilder(6, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1',
               'port': int(port), 'device': 'd1', 'weight': 1, 'meta': ''})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (sys.argv[1], name))
PY
  fi
  if ! sv_pid_alive "$SD/run/memcached.pid"; then
    port_free_or_die $((port + 4)) "memcached of $n"
    sv_spawn "$SD/run/memcached.pid" "$SD/log/memcached.log" \
      memcached -l 127.0.0.1 -p $((port + 4)) -U 0 -m 16 -c 256 -t 1 -u root
  fi
  for s in account container object proxy; do
    sv_pid_alive "$SD/run/$s.pid" && continue
    case $s in proxy) p=$port ;; account) p=$((port + 1)) ;; container) p=$((port + 2)) ;; object) p=$((port + 3)) ;; esac
    port_free_or_die $p "swift-$s-server of $n"
    sv_spawn "$SD/run/$s.pid" "$SD/log/$s.log" $NOSYNC $SV_PY /usr/bin/swift-$s-server "$SD/etc/$s-server.conf" -v
  done
  local ok
  for i in $(seq 1 600); do
    ok=1
    for p in $port $((port + 1)) $((port + 2)) $((port + 3)) $((port + 4)); do
      sv_port_open $p || { ok=0; break; }
    done
    [ $ok = 1 ] && { touch "$SD/.complete"; return 0; }
    for s in account container object proxy; do
      sv_pid_alive "$SD/run/$s.pid" ||
        { tail -20 "$SD/log/$s.log" >&2; die "swift-$s-server of $n died (log: $SD/log/$s.log)"; }
    done
    sleep 0.1
  done
  die "swift $n: servers not listening"
}

# ------------------------------------------------------------- env, health

write_env() {
  local n k ak sk f=$D/env.tmp
  {
    echo "# written by tests/integration/servers.sh start; read by tests/lib/s3servers.c"
    echo "S3_SERVERS='${CEPH_NAMES[*]} ${SWIFT_NAMES[*]}'"
    for n in "${CEPH_NAMES[@]}" "${SWIFT_NAMES[@]}"; do
      set -- $(creds "$n")
      ak=$1 sk=$2 k=${n^^}
      echo "S3_${k}_KIND='${n%%[0-9]*}'"
      case $n in
        ceph*) echo "S3_${k}_ENDPOINT='http://127.0.0.1:$(rgw_port "$n")'"
               echo "S3_${k}_REGION='us-east-1'"
               echo "S3_${k}_DATADIR='$CD'"
               echo "S3_${k}_PIDFILE='$CD/run/rgw-$n.pid'" ;;
        swift*) echo "S3_${k}_ENDPOINT='http://127.0.0.1:$(swift_port "$n")'"
                echo "S3_${k}_REGION='$(swift_region "$n")'"
                echo "S3_${k}_DATADIR='$D/$n'"
                echo "S3_${k}_PIDFILE='$D/$n/run/proxy.pid'" ;;
      esac
      echo "S3_${k}_ACCESS_KEY='$ak'"
      echo "S3_${k}_SECRET_KEY='$sk'"
      echo "S3_${k}_BUCKET='sv-$n'"
    done
  } >"$f"
  chmod 600 "$f"
}

# Create the bucket (again: harmless) and list it with a signed request.
bucket_ready() { # name
  local n=$1 k=${1^^} b c i
  eval "b=\$S3_${k}_BUCKET"
  for i in $(seq 1 300); do
    c=$(sv_s3curl "$n" "/$b?list-type=2&max-keys=1" -o /dev/null -w '%{http_code}' || true)
    [ "$c" = 200 ] && return 0
    if [ "$c" = 404 ]; then
      sv_s3curl "$n" "/$b" -X PUT -o "$D/$n.mkbucket" -w '%{http_code}' >/dev/null || true
    fi
    sleep 0.1
  done
  die "$n: bucket $b not usable (last HTTP $c): $(cat "$D/$n.mkbucket" 2>/dev/null | head -c 300)"
}

do_start() {
  local t0 pids=() what=() i rc=0 n
  check_installed
  t0=$(date +%s%N)
  mkdir -p "$D"
  ( start_ceph ) >"$D/start-ceph.log" 2>&1 & pids+=($!); what+=(ceph)
  for n in "${SWIFT_NAMES[@]}"; do
    ( start_swift "$n" ) >"$D/start-$n.log" 2>&1 & pids+=($!); what+=("$n")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "servers.sh: starting ${what[$i]} failed:" >&2
      tail -20 "$D/start-${what[$i]}.log" >&2
      rc=1
    fi
  done
  [ $rc = 0 ] || exit 1
  write_env
  . "$D/env.tmp"
  for n in $S3_SERVERS; do bucket_ready "$n"; done
  mv "$D/env.tmp" "$D/env"
  echo "servers.sh: $S3_SERVERS ready in $((($(date +%s%N) - t0) / 1000000)) ms (env: $D/env)"
}

all_pidfiles() {
  local f
  for f in "$CD"/run/rgw-*.pid "$D"/swift*/run/*.pid "$CD/run/osd.pid" "$CD/run/mon.pid"; do
    [ -f "$f" ] && echo "$f"
  done
  return 0
}

do_stop() {
  local f pids=()
  [ -d "$D" ] || return 0
  rm -f "$D/env"
  # gateways and swift in parallel, then the osd, then the monitor
  for f in $(all_pidfiles | grep -v -e /osd.pid -e /mon.pid); do
    sv_kill_pidfile "$f" & pids+=($!)
  done
  [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
  sv_kill_pidfile "$CD/run/osd.pid"
  sv_kill_pidfile "$CD/run/mon.pid"
  echo "servers.sh: stopped"
}

do_status() {
  local n k pf st rc=0 ep f
  if ! [ -f "$D/env" ]; then echo "not started (no $D/env)"; return 3; fi
  . "$D/env"
  for n in $S3_SERVERS; do
    k=${n^^}
    eval "pf=\$S3_${k}_PIDFILE ep=\$S3_${k}_ENDPOINT"
    st=$(ps -o stat= -p "$(cat "$pf" 2>/dev/null || echo 0)" 2>/dev/null || true)
    case $st in
      "" | Z*) echo "$n $ep stopped"; rc=3 ;;
      T*) echo "$n $ep paused"; rc=3 ;;
      *) echo "$n $ep running pid $(cat "$pf")" ;;
    esac
  done
  for f in mon osd; do
    sv_pid_alive "$CD/run/$f.pid" || { echo "ceph-$f stopped"; rc=3; }
  done
  return $rc
}

# One start/stop at a time (tests restart servers while others may call
# start). fd 9 holds the lock; sv_spawn closes it for the daemons.
mkdir -p "$D"
exec 9>"$D/.lock"
flock 9
case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  clean) do_stop; exec 9>&-; rm -rf "$D" ;;
  *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
