/**
 * How a process of this program starts another one (a detached container's
 * monitor ends in `minicontainer __cleanup ID`).
 * @module
 */

/** The command line that runs this program again with `args`. */
export function selfCommand(args: string[]): string[] {
  const exe = Deno.execPath();
  if (exe.split("/").pop() === "deno") {
    const main = new URL(Deno.mainModule).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    return [exe, "run", "--allow-all", "--quiet", "--config", config, main, ...args];
  }
  return [exe, ...args];
}
