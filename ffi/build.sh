#!/usr/bin/env bash
# Builds ffi/build/libmctrampoline.so from ffi/trampoline.c when it is missing
# or older than its source. Called by the launcher and by the deno tasks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/trampoline.c"
out="$here/build/libmctrampoline.so"
if [ -f "$out" ] && [ "$out" -nt "$src" ]; then exit 0; fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "minicontainer: building the trampoline needs a C compiler ($cc not found); install gcc or set CC" >&2
  exit 125
fi
mkdir -p "$here/build"
tmp="$out.tmp.$$"
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$tmp" "$src"
mv -f "$tmp" "$out"
