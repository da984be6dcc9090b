#!/bin/bash
# Install every Debian 12 package the build, the tests, the S3 test servers,
# the fuzzers and the benchmarks need. Idempotent: installs only what is
# missing. Root runs apt-get directly; anyone else goes through sudo.
set -euo pipefail
pkgs=(
  build-essential pkg-config make gcc clang libclang-rt-14-dev
  libisal-dev libsodium-dev libcurl4-openssl-dev liblmdb-dev lmdb-utils
  libcriterion-dev libinih-dev libexpat1-dev libjansson-dev
  curl python3 procps iproute2 xz-utils
  # real S3 servers for the integration tests (Ceph RGW, OpenStack Swift)
  ceph-mon ceph-osd radosgw ceph-common
  swift swift-proxy swift-account swift-container swift-object python3-swift
  memcached eatmydata
  # peer tool for the ingest benchmark
  rclone
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps ceph-mgr, keystone clients and the like out;
# the packages' maintainer scripts do not start daemons without systemd.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
