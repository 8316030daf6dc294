// Networking: CNI bridge networks, names, -p, the /etc files, NAT, and a
// teardown that leaves nothing. Traffic goes only to 127.0.0.1 and to the
// addresses of containers and namespaces made here. Subnets 10.213.N.0/24
// and 10.215.N.0/30 (checked clear of the host's routes), networks named
// with this process's pid.
import assert from "node:assert/strict";
import { hostRoutes, overlaps, parseSubnet } from "../../lib/net/subnet.ts";
import { mc, mcAsNobody, nobodyEnv, nobodyHome, rootOnly, sh, waitFor } from "./helpers.ts";

const tag = `t${Deno.pid % 100000}`;
const data = Deno.env.get("MINICONTAINER_DATA")!;

/** Containers' network directories left in the data dir. */
function netDirs(): string[] {
  try {
    return [...Deno.readDirSync(`${data}/net`)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), sanitizeResources: false, sanitizeOps: false, fn });
}

/** A /24 of 10.213/16 that overlaps no host route. */
function freeSubnet(n: number): string {
  for (let k = n; k < 256; k += 17) {
    const s = `10.213.${k}.0/24`;
    if (!hostRoutes().some((r) => overlaps(r, parseSubnet(s)))) return s;
  }
  throw new Error("no free test subnet");
}

async function ok(args: string[]): Promise<string> {
  const r = await mc(args);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Removes the default network `bridge` (and its bridge device) once a test is done with it. */
async function dropDefault(): Promise<void> {
  await mc(["network", "rm", "bridge"]);
}

function vethCount(): number {
  return [...Deno.readDirSync("/sys/class/net")].filter((e) => e.name.startsWith("veth")).length;
}

/** iptables-save without counters and comments (those change with traffic and time). */
async function rules(): Promise<string[]> {
  const out = await sh("iptables-save");
  return out.split("\n").filter((l) => l && !l.startsWith("#")).map((l) =>
    l.replace(/\[\d+:\d+\]/, "")
  ).sort();
}

/** host-local's lease files (one per address) under the suite's data dir. */
function leases(): string[] {
  const out: string[] = [];
  try {
    for (const net of Deno.readDirSync(`${data}/cni/ipam`)) {
      for (const f of Deno.readDirSync(`${data}/cni/ipam/${net.name}`)) {
        if (/^\d+\.\d+\.\d+\.\d+$/.test(f.name)) out.push(`${net.name}/${f.name}`);
      }
    }
  } catch { /* none yet */ }
  return out.sort();
}

function ipOf(output: string): string {
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(output);
  assert.ok(m, output);
  return m[1];
}

test("network: two containers on a user-defined network ping each other by name and alias", async () => {
  const net = `${tag}-names`;
  await ok(["network", "create", "--subnet", freeSubnet(1), net]);
  try {
    await ok(["run", "-d", "--name", `${tag}-a`, "--network", net, "sleep", "60"]);
    await ok([
      "run",
      "-d",
      "--name",
      `${tag}-b`,
      "--network",
      net,
      "--network-alias",
      "bee",
      "sleep",
      "60",
    ]);
    // a learnt b's name after it started (its hosts file was updated), b knew a's at start.
    await ok(["exec", `${tag}-a`, "ping", "-c1", "-W2", `${tag}-b`]);
    await ok(["exec", `${tag}-a`, "ping", "-c1", "-W2", "bee"]);
    await ok(["exec", `${tag}-b`, "ping", "-c1", "-W2", `${tag}-a`]);
    const hosts = await ok(["exec", `${tag}-a`, "cat", "/etc/hosts"]);
    assert.match(hosts, new RegExp(`^10\\.213\\.\\d+\\.\\d+\\t${tag}-b bee `, "m"));
    // Gone from a's hosts file once b is removed.
    await ok(["rm", "-f", `${tag}-b`]);
    assert.doesNotMatch(await ok(["exec", `${tag}-a`, "cat", "/etc/hosts"]), /bee/);
    const r = await mc(["network", "rm", net]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /network rm .*: containers use it/);
  } finally {
    await mc(["rm", "-f", `${tag}-a`, `${tag}-b`]);
    await mc(["network", "rm", net]);
  }
});

test("network: -p publishes busybox httpd on 127.0.0.1 and the host's addresses; port and inspect show it", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const name = `${tag}-web`;
  await ok([
    "run",
    "-d",
    "--name",
    name,
    "-p",
    `${port}:80`,
    "sh",
    "-c",
    "echo hello from the container > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
  ]);
  try {
    let body = "";
    for (let k = 0; k < 50 && !body; k++) {
      try {
        body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(body, "hello from the container\n");
    assert.equal((await ok(["port", name])).trim(), `80/tcp -> 0.0.0.0:${port}`);
    const info = JSON.parse(await ok(["inspect", name]))[0].NetworkSettings;
    assert.deepEqual(info.Ports["80/tcp"], [{ HostIp: "0.0.0.0", HostPort: String(port) }]);
    assert.match(info.Networks.bridge.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
    // The same port again: one sentence, exit 125.
    const again = await mc(["run", "-p", `${port}:80`, "true"]);
    assert.equal(again.code, 125);
    assert.match(again.stderr, new RegExp(`^minicontainer: publish port 0.0.0.0:${port}/tcp: `));
    assert.equal(again.stderr.trim().split("\n").length, 1);
  } finally {
    await mc(["rm", "-f", name]);
    await dropDefault();
  }
});

test("network: 20 containers started at once get 20 distinct addresses", async () => {
  const net = `${tag}-many`;
  await ok(["network", "create", "--subnet", freeSubnet(2), net]);
  try {
    const outs = await Promise.all(
      Array.from(
        { length: 20 },
        () => ok(["run", "--network", net, "ip", "-4", "addr", "show", "eth0"]),
      ),
    );
    const ips = outs.map(ipOf);
    assert.equal(new Set(ips).size, 20, ips.join(" "));
  } finally {
    await mc(["network", "rm", net]);
  }
});

test("network: --network container:X sees X's address; --ip fixes it", async () => {
  const net = `${tag}-share`;
  const subnet = freeSubnet(3);
  const ip = subnet.replace(/0\/24$/, "77");
  await ok(["network", "create", "--subnet", subnet, net]);
  try {
    await ok(["run", "-d", "--name", `${tag}-x`, "--network", net, "--ip", ip, "sleep", "60"]);
    const out = await ok([
      "run",
      "--network",
      `container:${tag}-x`,
      "ip",
      "-4",
      "addr",
      "show",
      "eth0",
    ]);
    assert.equal(ipOf(out), ip);
  } finally {
    await mc(["rm", "-f", `${tag}-x`]);
    await mc(["network", "rm", net]);
  }
});

test("network: /etc/hosts, /etc/hostname, /etc/resolv.conf for the default rootfs, --rootfs and an image", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-etc-" });
  try {
    // A user's rootfs: a copy of the default one; its /etc files must stay as they are.
    await ok(["run", "true"]);
    await sh(
      `cp -a ${data}/rootfs/default ${dir}/root && tar -C ${dir}/root -czf ${dir}/img.tgz .`,
    );
    await ok(["import", `${dir}/img.tgz`, `${tag}-img:1`]);
    const before = Deno.readTextFileSync(`${dir}/root/etc/hosts`);
    const script = "cat /etc/hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf";
    const roots: string[][] = [[], ["--rootfs", `${dir}/root`], [`${tag}-img:1`]];
    for (const root of roots) {
      const out = await ok([
        "run",
        "-h",
        "box1",
        "--add-host",
        "gw.test:10.213.200.1",
        "--dns",
        "10.213.200.53",
        "--dns-search",
        "example.test",
        ...(root.length ? root : []),
        "sh",
        "-c",
        script,
      ]);
      const [hostname, hosts, resolv] = out.split("---\n");
      assert.equal(hostname, "box1\n", root.join(" "));
      assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
      assert.match(hosts, /^10\.213\.200\.1\tgw\.test$/m);
      assert.match(hosts, /\tbox1$/m);
      assert.equal(resolv, "nameserver 10.213.200.53\nsearch example.test\n");
    }
    assert.equal(Deno.readTextFileSync(`${dir}/root/etc/hosts`), before);
    // Without --dns: the host's, minus loopback resolvers.
    const resolv = await ok(["run", "--network", "none", "cat", "/etc/resolv.conf"]);
    assert.doesNotMatch(resolv, /nameserver 127\./);
    assert.match(resolv, /^nameserver /m);
    // On a network: its own address with its hostname.
    const net = await ok(["run", "-h", "box2", "--network", "bridge", "cat", "/etc/hosts"]);
    assert.match(net, /^\d+\.\d+\.\d+\.\d+\tbox2$/m);
  } finally {
    await mc(["rmi", `${tag}-img:1`]);
    Deno.removeSync(dir, { recursive: true });
    await dropDefault();
  }
});

/**
 * An "outside" network namespace with a web server at 10.215.N.2:8000,
 * joined to the host by a veth (the host is 10.215.N.1) and with no other
 * route: an answer reaches a container only through NAT or a user-mode stack.
 */
async function withOutside(n: number, fn: (url: string) => Promise<void>): Promise<void> {
  const ns = `mc${tag}out${n}`;
  const outSubnet = `10.215.${n}.0/30`;
  assert.ok(!hostRoutes().some((r) => overlaps(r, parseSubnet(outSubnet))));
  const www = Deno.makeTempDirSync({ prefix: "mc-www-" });
  Deno.chmodSync(www, 0o755);
  Deno.writeTextFileSync(`${www}/x`, "outside\n");
  const hv = `v${tag}h${n}`.slice(0, 15);
  await sh(
    `ip netns add ${ns} && ip link add ${hv} type veth peer name eth0 netns ${ns} && ` +
      `ip addr add 10.215.${n}.1/30 dev ${hv} && ip link set ${hv} up && ` +
      `ip -n ${ns} addr add 10.215.${n}.2/30 dev eth0 && ip -n ${ns} link set eth0 up && ip -n ${ns} link set lo up`,
  );
  const server = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "busybox", "httpd", "-f", "-p", `10.215.${n}.2:8000`, "-h", www],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await fn(`10.215.${n}.2 8000`);
  } finally {
    server.kill("SIGKILL");
    await server.status;
    await sh(`ip link del ${hv} 2>/dev/null; ip netns del ${ns}`);
    Deno.removeSync(www, { recursive: true });
  }
}

/** A shell line that GETs /x from "HOST PORT" (busybox's static wget crashes in its service lookup here). */
function getX(hostPort: string): string {
  return `printf "GET /x HTTP/1.0\\r\\n\\r\\n" | nc -w 5 ${hostPort}`;
}

function assertGotX(out: string): void {
  assert.match(out, /^HTTP\/1\.[01] 200 /);
  assert.ok(out.endsWith("\r\n\r\noutside\n"), out);
}

test("network: outbound NAT reaches a server in an outside namespace that has no route back", async () => {
  try {
    await withOutside(9, async (target) => {
      assertGotX(await ok(["run", "--network", "bridge", "sh", "-c", getX(target)]));
    });
  } finally {
    await dropDefault();
  }
});

test("network: rootless (nobody) gets a routed interface, outbound connections and -p through pasta and slirp4netns", async () => {
  const home = nobodyHome();
  // Both tools open /dev/net/tun as the user; Debian makes it 0666, this machine 0600.
  const tunMode = Deno.statSync("/dev/net/tun").mode! & 0o777;
  Deno.chmodSync("/dev/net/tun", 0o666);
  const asNobody = async (args: string[], extra: Record<string, string> = {}) => {
    const out = await mcAsNobody(args, { ...nobodyEnv(home), ...extra });
    assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };
  try {
    for (const tool of ["slirp4netns", "pasta"]) {
      const env = { MINICONTAINER_ROOTLESS_NET: tool };
      if (tool === "slirp4netns") {
        // slirp4netns connects with plain host sockets, routed by the host's table to the
        // outside namespace. pasta copies the host's default interface into the container and
        // may send through it, so it is not pointed at an address beyond this machine.
        await withOutside(10, async (target) => {
          assertGotX(
            await asNobody(["run", "--network", "bridge", "sh", "-c", getX(target)], env),
          );
        });
      } else {
        const out = await asNobody(["run", "--network", "bridge", "ip", "route"], env);
        assert.match(out, /^default via \S+ dev \S+/m);
      }
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (probe.addr as Deno.NetAddr).port;
      probe.close();
      const name = `${tag}-rl-${tool}`;
      const id = (await asNobody([
        "run",
        "-d",
        "--name",
        name,
        "-p",
        `127.0.0.1:${port}:80`,
        "sh",
        "-c",
        `echo rootless ${tool} > /tmp/i; exec httpd -f -p 80 -h /tmp`,
      ], env)).trim();
      let body = "";
      for (let k = 0; k < 50 && !body; k++) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/i`)).text();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(body, `rootless ${tool}\n`);
      const helper = Number(
        Deno.readTextFileSync(`${home}/data/net/${id}/record.json`).match(/"helperPid": (\d+)/)![1],
      );
      await asNobody(["rm", "-f", name]);
      // The helper goes with the container.
      await waitFor(
        () => {
          try {
            Deno.statSync(`/proc/${helper}`);
            return false;
          } catch {
            return true;
          }
        },
        5000,
        `${tool} to exit`,
      );
    }
  } finally {
    Deno.chmodSync("/dev/net/tun", tunMode);
    await mcAsNobody(["rm", "-f", `${tag}-rl-pasta`, `${tag}-rl-slirp4netns`], nobodyEnv(home));
    Deno.removeSync(home, { recursive: true });
  }
});

test("network: teardown leaves no veth, rule or lease, SIGKILL of the runtime included", async () => {
  const net = `${tag}-gone`;
  await ok(["network", "create", "--subnet", freeSubnet(4), net]);
  // Once: the plugins' shared top-level chains (CNI-FORWARD, CNI-HOSTPORT-*) are made on first use and stay.
  await ok(["run", "--network", net, "-p", "80", "true"]);
  const before = { veth: vethCount(), rules: await rules(), leases: leases() };
  await ok(["run", "--network", net, "-p", "80", "true"]);
  assert.equal((await mc(["run", "--network", net, "sh", "-c", "exit 3"])).code, 3);
  const id = (await ok(["run", "-d", "--network", net, "-p", "80", "sleep", "60"])).trim();
  await ok(["rm", "-f", id]);
  // A foreground runtime killed with SIGKILL: the next system prune (or network rm/prune) reclaims.
  const child = new Deno.Command("./minicontainer", {
    args: ["run", "--network", net, "-p", "80", "sleep", "60"],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(() => leases().length > before.leases.length, 20_000, "the lease");
  await waitFor(() => vethCount() > before.veth, 20_000, "the veth");
  // And one with --network none: its /etc files are kept with its state (start needs them).
  const dirsBefore = netDirs().length;
  const plain = new Deno.Command("./minicontainer", {
    args: ["run", "sleep", "60"],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(() => netDirs().length > dirsBefore, 20_000, "the /etc files");
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGKILL");
  plain.kill("SIGKILL");
  await child.status;
  await plain.status;
  assert.ok(vethCount() > before.veth, "the namespace is kept for DEL");
  // system prune removes every container, the killed runtimes' too (not running), running DEL
  // for the one on the network; their kept /etc files go with them.
  const running = (await ok(["ps", "-q", "--no-trunc"])).trim().split("\n");
  const stopped = (await ok(["ps", "-a", "-q", "--no-trunc"])).trim().split("\n").filter((id) =>
    !running.includes(id)
  );
  assert.ok(stopped.length >= 5, `${stopped}`);
  const pruned = await ok(["system", "prune", "-f"]);
  for (const id of stopped) assert.ok(pruned.includes(id), `${id} not pruned: ${pruned}`);
  assert.equal(vethCount(), before.veth);
  assert.deepEqual(await rules(), before.rules);
  assert.deepEqual(leases(), before.leases);
  assert.deepEqual(netDirs(), []);
  // network rm takes the bridge device away too.
  const bridge = JSON.parse(await ok(["network", "inspect", net]))[0].Bridge;
  assert.ok(Deno.statSync(`/sys/class/net/${bridge}`).isDirectory);
  await ok(["network", "rm", net]);
  assert.throws(() => Deno.statSync(`/sys/class/net/${bridge}`));
});

test("network: bad input is one sentence, exit 125, nothing left behind", async () => {
  const net = `${tag}-bad`;
  const subnet = freeSubnet(5);
  await ok(["run", "--rm", "true"]); // the default rootfs, built once, says so on stderr
  await ok(["network", "create", "--subnet", subnet, net]);
  try {
    const veth = vethCount();
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [["run", "--network", `${tag}-nosuch`, "true"], /network .*-nosuch: no such network/],
      [["network", "create", "--subnet", subnet, `${tag}-over`], /overlaps network/],
      [["run", "-p", "80/sctp", "true"], /unknown protocol "sctp"/],
      [["run", "-p", "99999:80", "true"], /is not a port/],
      [
        ["run", "--network", net, "true"],
        /CNI plugin bridge: not found in \/nonexistent/,
        { MINICONTAINER_CNI_PATH: "/nonexistent" },
      ],
    ];
    // A port something on the host listens on.
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const takenPort = (taken.addr as Deno.NetAddr).port;
    cases.push([
      ["run", "-p", `127.0.0.1:${takenPort}:80`, "true"],
      new RegExp(`publish port 127.0.0.1:${takenPort}/tcp: the port is already in use on the host`),
    ]);
    for (const [args, message, env] of cases) {
      const r = await mc(args, { env });
      assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    taken.close();
    assert.equal(vethCount(), veth);
    assert.deepEqual(netDirs(), []);
    assert.ok(!(await ok(["network", "ls", "-q"])).includes(`${tag}-over`));
  } finally {
    await mc(["network", "rm", net]);
  }
});

test("network: prune removes every unused network with its bridge device (this suite's bridge too)", async () => {
  await ok(["network", "create", `${tag}-prune`]);
  const nets = JSON.parse(await ok(["network", "ls", "--format", "json"])) as {
    Name: string;
    Bridge: string;
  }[];
  assert.ok(nets.some((n) => n.Name === `${tag}-prune`));
  const pruned = (await ok(["network", "prune"])).trim().split("\n");
  assert.ok(pruned.includes(`${tag}-prune`), pruned.join(" "));
  assert.equal((await ok(["network", "ls", "-q"])).trim(), "");
  for (const n of nets) {
    let present = true;
    try {
      Deno.statSync(`/sys/class/net/${n.Bridge}`);
    } catch {
      present = false;
    }
    assert.ok(!present, `${n.Bridge} left behind`);
  }
});
