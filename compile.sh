#!/usr/bin/env bash
# Builds dist/minicontainer, one executable holding the Deno program and the
# trampoline .so (loaded at run time through memfd_create). `deno compile`
# downloads a `denort` base binary from Deno's own host; where that host is
# unreachable, point DENORT_BIN at a local denort of the same Deno version.
# main.ts loads each command's module (lib/cli) by a computed URL, which
# deno compile does not follow: --include lib/cli puts them in.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
bash ffi/build.sh
deno=$(command -v deno || ls .deno/node_modules/@deno/linux-*-glibc/deno 2>/dev/null | head -1 || true)
if [ -z "$deno" ]; then
  echo "compile.sh: no Deno found; run ./minicontainer --version once to install it" >&2
  exit 1
fi
mkdir -p dist
if [ -n "${DENORT_BIN:-}" ] && [ ! -x "$DENORT_BIN" ]; then
  echo "compile.sh: DENORT_BIN=$DENORT_BIN is not an executable file" >&2
  exit 1
fi
if ! "$deno" compile --allow-all --no-check --include ffi/build/libmctrampoline.so --include ffi/build/mcmonitor --include ffi/build/mcexec --include lib/cli \
  --output dist/minicontainer main.ts 2>dist/compile.log; then
  if grep -qiE "denort|download|dns|connect|network" dist/compile.log; then
    echo "compile.sh: deno compile could not fetch its denort base binary (no network to Deno's host?); set DENORT_BIN=/path/to/denort of Deno $("$deno" --version | head -1 | cut -d' ' -f2)" >&2
  else
    cat dist/compile.log >&2
  fi
  exit 1
fi
echo "built dist/minicontainer"
