#!/bin/bash
# The README's first command: the main job on the embedded default.
set -euo pipefail
BIN=${1:-build/rel/shardvault}
"$BIN" version
"$BIN" bench ec --quick
