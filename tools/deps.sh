#!/usr/bin/env bash
# Install what sluice needs to build, test and benchmark on Debian 12, and nothing that is
# already there. Run by `make run`, `make test` and `make bench`; safe to run again.
# As root it runs apt-get (with one `apt-get update` first when anything is missing);
# otherwise it prints the exact command to run and stops.
set -euo pipefail

profile=${1:-build}   # build | test | bench

pkgs=(build-essential meson ninja-build pkg-config
      libxxhash-dev liblz4-dev liburing-dev libmicrohttpd-dev libinih-dev libpcre2-dev
      libsnappy-dev libprotobuf-c-dev protobuf-c-compiler librdkafka-dev curl
      libdpdk-dev libpcap-dev dpdk)
if [ "$profile" = test ] || [ "$profile" = bench ]; then
    # prometheus: the reference for the differential test and the query benchmark; the
    # tests run their own instance on a free loopback port (never the packaged service).
    pkgs+=(libcriterion-dev clang libclang-rt-14-dev python3 python3-statsd python3-snappy
           netcat-openbsd iproute2 procps ethtool prometheus)
fi
if [ "$profile" = bench ]; then
    # gnuplot draws the report's SVG plots; Node.js runs the Etsy statsd peer, which
    # bench/run.sh installs from npm (Debian's nodejs ships without npm; a NodeSource
    # nodejs already carries it, and Debian's npm package would conflict with it).
    pkgs+=(linux-perf valgrind gnuplot-nox nodejs prometheus)  # prometheus: promtool for storage_size
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "sluice needs these Debian packages: ${missing[*]}" >&2
    echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's prometheus package starts its service (0.0.0.0:9090) on install. Forbid service
# starts for this install through policy-rc.d (exit 101 = action not allowed), unless the
# machine already has its own policy.
own_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
fi
rc=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
exit $rc
