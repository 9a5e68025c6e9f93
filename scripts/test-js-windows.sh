#!/usr/bin/env bash
# The whole mocha suite (build/test/*.test.js, as npm run test:js runs it) in Windows node.exe
# under Wine, against the addons scripts/windows-addon.sh builds. npm run test:js:windows builds
# the TypeScript first, then runs this.
#
#   bash scripts/test-js-windows.sh [mocha arguments...]   e.g. -g 'process exit'
#
# Environment: NODE_WIN_MAJOR, MINGW, WINEPREFIX (scripts/windows-env.sh); MOCHA_TIMEOUT (ms per
# test, default 30000: node.exe starts a child in ~1 s under Wine, ten times native).
# Output: build/win32-x64-node<major>/mocha.log, printed at the end.
set -euo pipefail
what="test:js:windows"
source "$(dirname "$0")/windows-env.sh"

bash "$root/scripts/windows-addon.sh"
ensure_node_exe
ensure_wine_prefix
out=$root/build/win32-x64-node$major
log=$out/mocha.log

# node.exe's stdout into a pipe fails under Wine (EBADF): mocha writes to a file, shown after.
# The tests spawn process.execPath (node.exe) themselves; children and workers inherit
# ASYNCJOB_PREBUILD and NODE_OPTIONS, which preloads scripts/windows-addon-paths.js: between
# them, every addon loads from $out.
status=0
(cd "$root" && export ASYNCJOB_PREBUILD="$(winpath "$out")" \
  NODE_OPTIONS="--require $(winpath "$root/scripts/windows-addon-paths.js")" &&
  timeout 1800 "$wine" "$nodeexe" \
  node_modules/mocha/bin/mocha.js --timeout "${MOCHA_TIMEOUT:-30000}" "$@" >"$log" 2>&1 </dev/null) ||
  status=$?
cat "$log"
[ "$status" != 124 ] || echo "$what: mocha did not finish within 30 minutes" >&2
exit "$status"
