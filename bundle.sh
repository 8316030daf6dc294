#!/usr/bin/env bash
# Builds dist/js: main.ts and each command's module (lib/cli/*.ts, which
# main.ts loads by a computed path) as minified JavaScript, modules shared
# between them split into chunks. The launcher runs dist/js/main.js when no
# source file is newer than it: fewer files to read, nothing to transpile,
# less to parse than the TypeScript modules (see README, Start-up). Source
# maps keep stack traces pointing at the TypeScript.
# Chunk names are hashes of their content: chunks are added, never changed
# in meaning (one bundled before bundle_lazy.ts existed is replaced by its
# rewrite, by a rename), and main.js is replaced last, by a rename, so a
# process already running (a supervisor) still finds the chunks it loads lazily.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deno=${DENO:-$(command -v deno || ls "$here"/.deno/node_modules/@deno/linux-*-glibc/deno 2>/dev/null | head -1 || true)}
if [ -z "$deno" ]; then
  echo "bundle.sh: no Deno found; run ./minicontainer --version once to install it" >&2
  exit 1
fi
out="$here/dist/js"
mkdir -p "$out/lib/cli"
tmp=$(mktemp -d "$here/dist/.js-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$deno" bundle --quiet --no-config --platform deno --code-splitting --minify --keep-names \
  --sourcemap=linked --outdir "$tmp" "$here/main.ts" "$here"/lib/cli/*.ts >&2
# Dynamic imports of chunks made computed (see bundle_lazy.ts): Deno would
# read every lazily loaded chunk at each start otherwise.
"$deno" run --no-config --no-lock --allow-read="$tmp" --allow-write="$tmp" "$here/bundle_lazy.ts" "$tmp" >&2
# Paths the code finds next to its module (import.meta.url): the trampoline
# (ffi/trampoline.ts) and deno.json (the supervisor's command line), for
# code in a chunk (dist/js) or in a command's entry (dist/js/lib/cli).
ln -sfn ../../ffi/build "$out/build"
ln -sfn ../../../../ffi/build "$out/lib/cli/build"
ln -sfn ../../deno.json "$out/deno.json"
fresh=" "
for f in "$tmp"/*.js "$tmp"/*.map; do
  name=${f##*/}
  fresh+="$name "
  case $name in main.js | main.js.map) continue ;; esac
  cmp -s "$f" "$out/$name" || mv "$f" "$out/$name"
done
for f in "$tmp"/lib/cli/*; do mv "$f" "$out/lib/cli/${f##*/}"; done
mv "$tmp/main.js.map" "$out/main.js.map"
mv "$tmp/main.js" "$out/main.js"
# Chunks of older builds go once they are a day old (no process runs that long from them).
while IFS= read -r old; do
  case $fresh in *" ${old##*/} "*) ;; *) rm -f "$old" ;; esac
done < <(find "$out" -maxdepth 1 -type f -name '*.js*' -mmin +1440)
