/**
 * Run by bundle.sh on the bundle it just wrote (the directory given):
 * makes every dynamic import of a chunk computed, `import("./x.js")`
 * becoming `import(""+"./x.js")`, and shifts the source maps to match.
 *
 * Deno reads, at start, every module that a literal dynamic import names
 * and all it imports (the module graph follows them), so each start read
 * and parsed all the lazily loaded chunks: 81 files for `run --help`, 32
 * once computed. A computed specifier is resolved against the importing
 * module all the same, when the import runs. main.ts's own `cli(NAME)` is
 * computed for the same reason.
 * @module
 */

const LITERAL = /import\("(\.{1,2}\/)/g;
const ADDED = '""+'.length;
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function decodeVlq(text: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of text) {
    const digit = B64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  return out;
}

export function encodeVlq(values: readonly number[]): string {
  let out = "";
  for (const v of values) {
    let rest = v < 0 ? (-v << 1) | 1 : v << 1;
    do {
      let digit = rest & 31;
      rest >>>= 5;
      if (rest) digit |= 32;
      out += B64[digit];
    } while (rest);
  }
  return out;
}

/**
 * `mappings` with each generated column moved right by ADDED for every
 * insertion at or before it on its line (`inserted[line]`: ascending
 * columns of the original text where the text went).
 */
export function shiftMappings(mappings: string, inserted: readonly number[][]): string {
  return mappings.split(";").map((line, n) => {
    const at = inserted[n] ?? [];
    if (!at.length || !line) return line;
    let column = 0;
    let shifted = 0;
    return line.split(",").map((segment) => {
      const fields = decodeVlq(segment);
      column += fields[0];
      let moved = 0;
      while (moved < at.length && at[moved] <= column) moved++;
      const newColumn = column + moved * ADDED;
      fields[0] = newColumn - shifted;
      shifted = newColumn;
      return encodeVlq(fields);
    }).join(",");
  }).join(";");
}

/** Rewrites one bundled file and its linked map (FILE.map) when it has literal chunk imports. */
export function computeImports(file: string): boolean {
  const text = Deno.readTextFileSync(file);
  const lines = text.split("\n");
  // Where `""+` goes: after "import(".
  const inserted = lines.map((line) =>
    [...line.matchAll(LITERAL)].map((m) => m.index! + "import(".length)
  );
  if (!inserted.some((a) => a.length)) return false;
  Deno.writeTextFileSync(file, text.replace(LITERAL, 'import(""+"$1'));
  let map: { mappings: string };
  try {
    map = JSON.parse(Deno.readTextFileSync(`${file}.map`));
  } catch {
    return true; // no map beside it
  }
  map.mappings = shiftMappings(map.mappings, inserted);
  Deno.writeTextFileSync(`${file}.map`, JSON.stringify(map));
  return true;
}

if (import.meta.main) {
  const dir = Deno.args[0];
  for (const sub of [dir, `${dir}/lib/cli`]) {
    for (const e of Deno.readDirSync(sub)) {
      if (e.isFile && e.name.endsWith(".js")) computeImports(`${sub}/${e.name}`);
    }
  }
}
