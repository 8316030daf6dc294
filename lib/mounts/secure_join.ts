/**
 * Resolves a path inside a root filesystem the way the container will see
 * it: symlinks are followed relative to the root and ".." never climbs out,
 * so a hostile rootfs cannot turn a mount target into a host path.
 * @module
 */

const MAX_LINKS = 255;

/** Reads a symlink's target at a path relative to the root, or undefined if it is none. */
export type LinkReader = (relative: string) => string | undefined;

/** Symlinks of a plain directory tree. */
function treeLinks(root: string): LinkReader {
  return (relative) => {
    try {
      const candidate = `${root}/${relative}`;
      if (Deno.lstatSync(candidate).isSymlink) return Deno.readLinkSync(candidate);
    } catch {
      // Missing components are created later, as directories: take them literally.
    }
    return undefined;
  };
}

/**
 * Symlinks of an overlay of `layers` (top first), as the container will see
 * them: the top-most layer holding a name decides, a whiteout hides it.
 */
export function layeredLinks(layers: readonly string[]): LinkReader {
  return (relative) => {
    for (const layer of layers) {
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(`${layer}/${relative}`);
      } catch {
        continue;
      }
      if (info.isCharDevice && info.rdev === 0) return undefined; // whiteout
      return info.isSymlink ? Deno.readLinkSync(`${layer}/${relative}`) : undefined;
    }
    return undefined;
  };
}

/**
 * The host path of `path` inside `root`, with every symlink resolved within
 * `root`; `links` reads the symlinks (by default those of the tree at root).
 */
export function secureJoin(
  root: string,
  path: string,
  links: LinkReader = treeLinks(root),
): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let followed = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const target = links([...resolved, part].join("/"));
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++followed > MAX_LINKS) break;
    if (target.startsWith("/")) resolved.length = 0;
    parts.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
  }
  return resolved.length ? `${root}/${resolved.join("/")}` : root;
}
