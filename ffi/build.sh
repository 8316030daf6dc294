#!/usr/bin/env bash
# Builds ffi/build/libmctrampoline.so from ffi/trampoline.c,
# ffi/build/mcmonitor (the monitor of a detached container, a static program
# that includes trampoline.c) from ffi/monitor.c, and ffi/build/mcexec (the
# helper every container command is executed through, ffi/exec_helper.c),
# when missing or older than their sources. Called by the launcher and by
# the deno tasks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/trampoline.c"
out="$here/build/libmctrampoline.so"
mon="$here/build/mcmonitor"
exe="$here/build/mcexec"
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ -f "$mon" ] && [ "$mon" -nt "$src" ] &&
  [ "$mon" -nt "$here/monitor.c" ] && [ -f "$exe" ] && [ "$exe" -nt "$here/exec_helper.c" ]; then
  exit 0
fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "minicontainer: building the trampoline needs a C compiler ($cc not found); install gcc or set CC" >&2
  exit 125
fi
mkdir -p "$here/build"
tmp="$out.tmp.$$"
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$tmp" "$src"
mv -f "$tmp" "$out"
# Static: a few hundred KB resident per running container, no loader, no libc mapped.
tmp="$mon.tmp.$$"
if ! "$cc" -O2 -Wall -Wextra -Werror -static -o "$tmp" "$here/monitor.c" 2>/dev/null; then
  "$cc" -O2 -Wall -Wextra -Werror -o "$tmp" "$here/monitor.c"
fi
mv -f "$tmp" "$mon"
# Freestanding where it knows the architecture (5 KB, copied into a memfd at
# each run), else with a static libc.
tmp="$exe.tmp.$$"
if ! "$cc" -O2 -Wall -Wextra -Werror -DMC_FREESTANDING -static -nostdlib -ffreestanding \
  -fno-stack-protector -fno-pie -no-pie -fno-asynchronous-unwind-tables -Wl,--build-id=none -s \
  -o "$tmp" "$here/exec_helper.c" 2>/dev/null; then
  "$cc" -O2 -Wall -Wextra -Werror -static -s -o "$tmp" "$here/exec_helper.c"
fi
mv -f "$tmp" "$exe"
