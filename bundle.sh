#!/usr/bin/env bash
# Builds dist/js: main.ts and everything it imports as minified JavaScript,
# one chunk per group of modules a verb loads (code splitting keeps `run`'s
# graph apart from pull's or exec's). The launcher runs dist/js/main.js when
# no source file is newer than it: measured 15-20 ms less per `run` than the
# 100-odd TypeScript modules (no per-module transpile-cache lookups, less
# to parse). Source maps keep stack traces pointing at the TypeScript.
# Chunk names are hashes of their content: chunks are added, never changed,
# and main.js is replaced last by a rename, so a process already running
# (a supervisor) still finds the chunks it loads lazily.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deno=${DENO:-$(command -v deno || ls "$here"/.deno/node_modules/@deno/linux-*-glibc/deno 2>/dev/null | head -1 || true)}
if [ -z "$deno" ]; then
  echo "bundle.sh: no Deno found; run ./minicontainer --version once to install it" >&2
  exit 1
fi
out="$here/dist/js"
tmp=$(mktemp -d "$here/dist/.js-XXXXXX" 2>/dev/null || { mkdir -p "$here/dist" && mktemp -d "$here/dist/.js-XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
"$deno" bundle --quiet --no-config --platform deno --code-splitting --minify --keep-names \
  --sourcemap=linked --outdir "$tmp" "$here/main.ts" >&2
mkdir -p "$out"
fresh=" "
for f in "$tmp"/*; do fresh+="${f##*/} "; done
# The trampoline is found next to the module that loads it (ffi/trampoline.ts).
ln -sfn ../../ffi/build "$out/build"
for f in "$tmp"/*; do
  name=${f##*/}
  case $name in main.js | main.js.map) continue ;; esac
  [ -e "$out/$name" ] || mv "$f" "$out/$name"
done
mv "$tmp/main.js.map" "$out/main.js.map"
mv "$tmp/main.js" "$out/main.js"
# Chunks of older builds go once they are a day old (no process runs that long from them).
while IFS= read -r old; do
  case $fresh in *" ${old##*/} "*) ;; *) rm -f "$old" ;; esac
done < <(find "$out" -maxdepth 1 -type f -name '*.js*' -mmin +1440)
