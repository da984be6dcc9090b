#!/bin/bash
# tests/integration/s3ctl.sh NAME OP [KEY]: fault injection on one test
# server started by servers.sh (NAME: ceph1..3, swift1..3).
#
#   stop         kill the S3 endpoint (radosgw / swift proxy): connection refused
#   start        start whatever is down again (servers.sh start) and wait
#   pause        SIGSTOP the endpoint: requests hang until the client times out
#   resume       SIGCONT it
#   path KEY     print where the object's bytes live behind the server (the
#                RADOS head object, or Swift's .data file)
#   rm KEY       delete those bytes behind the server's back (a lost shard:
#                GET/HEAD then answer 404, the key may still be listed)
#   corrupt KEY  flip 16 bytes of the stored object behind the server's back
#                (bit rot: GET answers 200 with the wrong bytes)
# Corruption hits offset 4096 when the object is larger than 8 KiB, else
# its middle; a 0-byte object cannot be corrupted (exit 1).
set -euo pipefail
. "$(dirname "$0")/s3lib.sh"
N=${1:?usage: s3ctl.sh NAME stop|start|pause|resume|path|rm|corrupt [KEY]}
OP=${2:?operation}
sv_load_env
K=${N^^}
eval "kind=\${S3_${K}_KIND:-} pf=\${S3_${K}_PIDFILE:-} dd=\${S3_${K}_DATADIR:-} bucket=\${S3_${K}_BUCKET:-}"
[ -n "$kind" ] || { echo "s3ctl: no server named $N (have: $S3_SERVERS)" >&2; exit 2; }
need_key() { [ -n "${KEY:-}" ] || { echo "s3ctl: $OP needs a KEY" >&2; exit 2; }; }
KEY=${3:-}

# XOR 16 bytes of FILE in place (python: no partial-write surprises)
flip_file() {
  $SV_PY - "$1" <<'PY'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
if n == 0:
    sys.exit("s3ctl: object is empty, nothing to corrupt")
off = 4096 if n > 8192 else n // 2
with open(p, 'r+b') as f:
    f.seek(off)
    b = f.read(16)
    f.seek(off)
    f.write(bytes(x ^ 0xA5 for x in b))
    f.flush()
    os.fsync(f.fileno())
PY
}

ceph_obj() {
  local m
  m=$(radosgw-admin -c "$dd/ceph.conf" bucket stats --bucket "$bucket" |
      $SV_PY -c 'import json,sys;print(json.load(sys.stdin)["marker"])')
  echo "${m}_$KEY"
}

swift_file() {
  local acc
  eval "acc=\${S3_${K}_ACCESS_KEY%%:*}"
  $SV_PY - "$dd" "AUTH_$acc" "$bucket" "$KEY" <<'PY'
import glob, sys
from swift.common.ring import Ring
from swift.common.utils import hash_path
d, a, c, o = sys.argv[1:5]
ring = Ring(d + '/etc', ring_name='object')
part, nodes = ring.get_nodes(a, c, o)
h = hash_path(a, c, o)
found = []
for n in nodes:
    found += sorted(glob.glob('%s/node/%s/objects/%d/%s/%s/*.data'
                              % (d, n['device'], part, h[-3:], h)))
if not found:
    sys.exit('s3ctl: no stored data for %s/%s' % (c, o))
print(found[-1])
PY
}

case $OP in
  stop) sv_kill_pidfile "$pf" ;;
  start) "$(dirname "$0")/servers.sh" start >/dev/null ;;
  pause) kill -STOP "$(cat "$pf")" ;;
  resume) kill -CONT "$(cat "$pf")" ;;
  path)
    need_key
    case $kind in ceph) ceph_obj ;; swift) swift_file ;; esac ;;
  rm)
    need_key
    case $kind in
      ceph) rados -c "$dd/ceph.conf" -p default.rgw.buckets.data rm "$(ceph_obj)" ;;
      swift) rm -f "$(swift_file)" ;;
    esac ;;
  corrupt)
    need_key
    case $kind in
      ceph)
        t=$(mktemp); trap 'rm -f "$t"' EXIT
        o=$(ceph_obj)
        rados -c "$dd/ceph.conf" -p default.rgw.buckets.data get "$o" "$t"
        flip_file "$t"
        rados -c "$dd/ceph.conf" -p default.rgw.buckets.data put "$o" "$t" ;;
      swift) flip_file "$(swift_file)" ;;
    esac ;;
  *) echo "s3ctl: unknown operation $OP" >&2; exit 2 ;;
esac
