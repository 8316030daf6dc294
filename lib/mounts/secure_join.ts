/**
 * Resolves a path inside a root filesystem the way the container will see
 * it: symlinks are followed relative to the root and ".." never climbs out,
 * so a hostile rootfs cannot turn a mount target into a host path.
 * @module
 */

const MAX_LINKS = 255;

/** The host path of `path` inside `root`, with every symlink resolved within `root`. */
export function secureJoin(root: string, path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = `${root}/${[...resolved, part].join("/")}`;
    let target: string | undefined;
    try {
      if (Deno.lstatSync(candidate).isSymlink) target = Deno.readLinkSync(candidate);
    } catch {
      // Missing components are created later, as directories: take them literally.
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) break;
    if (target.startsWith("/")) resolved.length = 0;
    parts.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
  }
  return resolved.length ? `${root}/${resolved.join("/")}` : root;
}
