/**
 * How a process of this program starts another one (a detached container's
 * monitor ends in `minicontainer __cleanup ID`).
 * @module
 */

/**
 * The V8 flags the launcher (./minicontainer) gives Deno. The same here: V8
 * rejects a code cache made under other flags, and Deno's cache of the
 * bundle's modules would be made again by each side in turn.
 */
const V8_FLAGS = "--v8-flags=--min-semi-space-size=4,--no-lazy";

/** The command line that runs this program again with `args`. */
export function selfCommand(args: string[]): string[] {
  const exe = Deno.execPath();
  if (exe.split("/").pop() === "deno") {
    const main = new URL(Deno.mainModule).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    return [exe, "run", "--allow-all", "--quiet", V8_FLAGS, "--config", config, main, ...args];
  }
  return [exe, ...args];
}
