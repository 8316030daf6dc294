// Removing a cgroup tree a test or bench named, in every hierarchy; no side effects on import (the bench uses it).

/**
 * Removes the cgroup directory `/NAME` (and its sub-cgroups, deepest first)
 * in every hierarchy: the parents a test named as a cgroup path or parent.
 * Retries while the kernel still holds a just-removed child.
 */
export async function removeCgroupTree(name: string): Promise<void> {
  const rmTree = (dir: string): boolean => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return true; // gone
    }
    for (const e of entries) if (e.isDirectory) rmTree(`${dir}/${e.name}`);
    try {
      Deno.removeSync(dir);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 50; i++) {
    const hierarchies = [...Deno.readDirSync("/sys/fs/cgroup")].map((e) =>
      `/sys/fs/cgroup/${e.name}`
    );
    const ok = [...hierarchies, "/sys/fs/cgroup"].map((h) => rmTree(`${h}/${name}`)).every((x) =>
      x
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
