// lib/net's pure parts: subnets, -p, resolv.conf, plugin configs, the join ops.
import assert from "node:assert/strict";
import { pluginConfig } from "../../lib/net/cni.ts";
import { buildResolvConf, FALLBACK_NAMESERVERS } from "../../lib/net/etc_files.ts";
import { bridgeConflist } from "../../lib/net/networks.ts";
import { exposedPorts, parsePublish } from "../../lib/net/ports.ts";
import { chooseSubnet, hostRoutes, overlaps, parseSubnet } from "../../lib/net/subnet.ts";
import { buildChildPlan } from "../../lib/container/plan.ts";
import type { Spec } from "../../lib/spec.ts";

Deno.test("subnet: host routes from /proc/net/route, and a choice that overlaps none", () => {
  const table = [
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
    "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0", // 172.17.0.0/16
  ].join("\n");
  const routes = hostRoutes(table);
  assert.deepEqual(routes, [parseSubnet("172.17.0.0/16")]);
  assert.deepEqual(chooseSubnet(routes), parseSubnet("172.18.0.0/16"));
  assert.ok(overlaps(parseSubnet("10.88.0.0/16"), parseSubnet("10.88.3.0/24")));
  assert.ok(!overlaps(parseSubnet("10.88.0.0/16"), parseSubnet("10.89.0.0/24")));
  assert.throws(() => parseSubnet("10.1.2.3/24"), /host bits set; the subnet is 10.1.2.0\/24/);
  assert.throws(() => parseSubnet("300.1.2.0/24"), /not an IPv4 subnet/);
});

Deno.test("ports: -p forms, ranges, protocols and bad input", () => {
  assert.deepEqual(parsePublish("8080:80"), [{
    hostPort: 8080,
    containerPort: 80,
    protocol: "tcp",
  }]);
  assert.deepEqual(parsePublish("127.0.0.1:53:53/udp"), [
    { hostPort: 53, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" },
  ]);
  assert.deepEqual(parsePublish("127.0.0.1::80"), [
    { hostPort: 0, containerPort: 80, protocol: "tcp", hostIP: "127.0.0.1" },
  ]);
  assert.deepEqual(parsePublish("8000-8001:80-81").map((m) => [m.hostPort, m.containerPort]), [
    [8000, 80],
    [8001, 81],
  ]);
  assert.deepEqual(parsePublish("80")[0].hostPort, 0);
  assert.throws(() => parsePublish("80/sctp"), /unknown protocol "sctp"/);
  assert.throws(() => parsePublish("8000-8002:80-81"), /differ in length/);
  assert.throws(() => parsePublish("70000:80"), /is not a port/);
  assert.throws(() => parsePublish("a:b:c:d"), /is not \[IP:\]/);
  assert.deepEqual(exposedPorts({ "80/tcp": {}, "53/udp": {} }).map((m) => m.protocol), [
    "tcp",
    "udp",
  ]);
});

Deno.test("resolv.conf: loopback resolvers dropped off the host network, flags replace parts", () => {
  const host =
    "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch a.test b.test\noptions edns0\n";
  assert.equal(
    buildResolvConf(host, {}, false),
    "nameserver 10.0.0.2\nsearch a.test b.test\noptions edns0\n",
  );
  assert.equal(buildResolvConf(host, {}, true).split("\n")[0], "nameserver 127.0.0.53");
  assert.equal(
    buildResolvConf("nameserver 127.0.0.1\n", {}, false),
    FALLBACK_NAMESERVERS.map((n) => `nameserver ${n}\n`).join(""),
  );
  assert.equal(
    buildResolvConf(host, { dns: ["10.9.9.9"], search: ["x.test"], options: ["ndots:2"] }, false),
    "nameserver 10.9.9.9\nsearch x.test\noptions ndots:2\n",
  );
});

Deno.test("cni: a plugin gets the list's name and version, its capabilities' runtime config, our lease dir", () => {
  const list = bridgeConflist("app", "ab".repeat(32), "10.213.0.0/24", "10.213.0.1");
  const rt = { portMappings: [{ hostPort: 1, containerPort: 2, protocol: "tcp" as const }] };
  const bridge = pluginConfig(list, list.plugins[0], rt, "/data/cni/ipam");
  assert.equal(bridge.name, "app");
  assert.equal(bridge.cniVersion, "1.0.0");
  assert.equal(bridge.runtimeConfig, undefined); // bridge declares ips, not portMappings
  assert.equal((bridge.ipam as { dataDir: string }).dataDir, "/data/cni/ipam");
  assert.equal(bridge.bridge, "mc-abababababab");
  const prev = { ips: [{ address: "10.213.0.2/24" }] };
  const portmap = pluginConfig(list, list.plugins[1], rt, "/x", prev);
  assert.deepEqual(portmap.runtimeConfig, rt);
  assert.deepEqual(portmap.prevResult, prev);
});

Deno.test("plan: a network namespace given by path is joined first, nothing joined otherwise", () => {
  const plan = (namespaces: unknown[]) =>
    buildChildPlan({
      spec: {
        process: { args: ["/bin/true"], cwd: "/", user: { uid: 0, gid: 0 } },
        root: { path: "/r" },
        linux: { namespaces },
      } as unknown as Spec,
      mounts: [],
      init: false,
    });
  const ops = plan([{ type: "pid" }, { type: "network", path: "/run/x/netns" }]);
  const joins = ops.filter((o) => o.label.includes("/run/x/netns"));
  assert.deepEqual(joins.map((o) => o.call), ["openat", "setns", "close"]);
  assert.equal(joins[0].args[1], "/run/x/netns");
  // Right after the release, before anything else of the container.
  assert.equal(ops.indexOf(joins[0]), ops.findIndex((o) => o.call === "wait_sync") + 1);
  assert.ok(!plan([{ type: "network" }]).some((o) => o.call === "setns"));
});
