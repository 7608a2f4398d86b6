#!/usr/bin/env bash
# Install Etsy statsd (the StatsD reference daemon, from npm) into DIR/node_modules/statsd
# unless that version is already there. Used by `make test` (the semantics differential
# test) and by bench/run.sh (the StatsD benchmarks). Needs Node.js and npm.
set -euo pipefail
dir=${1:?usage: install_statsd_peer.sh DIR}
version=${STATSD_VERSION:-0.9.0}   # newest on npm; keep in step with bench/lib/benchlib.py
if [ -f "$dir/node_modules/statsd/stats.js" ] &&
   grep -q "\"version\": \"$version\"" "$dir/node_modules/statsd/package.json"; then
    exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "Node.js and npm are needed for the Etsy statsd peer (apt-get install nodejs npm)" >&2
    exit 1
fi
echo "installing Etsy statsd $version from npm into $dir" >&2
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "statsd@$version" >&2
