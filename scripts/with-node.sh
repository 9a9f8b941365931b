#!/usr/bin/env bash
# Runs a command under another major version of Node.js, fetched from the npm registry alone:
# the registry's `node-linux-<arch>` package is Node's release tarball, binary and `include/node`
# headers. npm_config_nodedir points node-gyp at those headers, so a native module (better-sqlite3)
# built by `npm ci` matches that Node's ABI; otherwise a machine whose npmrc sets `nodedir` (Debian's
# NodeSource nodejs: /usr) builds it against the headers of the Node installed there.
#
#   scripts/with-node.sh 22 npm ci             # in a copy of the tree: node_modules is per Node version
#   scripts/with-node.sh 22 npm run test:unit
#
# The first run of a major version downloads it (about 30 MB) into RAGMAIL_NODE_CACHE
# (default ~/.cache/ragmail-node); later runs use that copy.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <node major version, e.g. 22> <command …>" >&2
  exit 2
fi
major="$1"
shift

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "no node-linux package for $(uname -m)" >&2
    exit 1
    ;;
esac

home="${RAGMAIL_NODE_CACHE:-$HOME/.cache/ragmail-node}/node-linux-$arch-$major"
if [ ! -x "$home/bin/node" ] || [ ! -f "$home/include/node/node_api.h" ]; then
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  tarball="$(cd "$download" && npm pack --silent "node-linux-$arch@$major" | tail -n 1)"
  rm -rf "$home"
  mkdir -p "$home"
  tar -xzf "$download/$tarball" -C "$home" --strip-components=1
fi

export PATH="$home/bin:$PATH"
export npm_config_nodedir="$home"
echo "with-node: $(node --version) from $home" >&2
exec "$@"
