/**
 * `minicontainer login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]`
 * and `logout [SERVER]`: credentials in docker's config.json
 * ($DOCKER_CONFIG or ~/.docker), which pull and push read. Docker Hub
 * without SERVER.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { checkLogin, dockerConfigPath, saveAuth } from "../image/registry.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";

const FLAGS: FlagDef[] = [
  { name: "username", short: "u", value: true, meta: "USER", help: "User name" },
  { name: "password", short: "p", value: true, meta: "PASSWORD", help: "Password" },
  { name: "password-stdin", help: "Read the password from stdin" },
  { name: "insecure", help: "Plain HTTP (a registry without TLS; loopback ones need not say)" },
  { name: "help", help: "Show this help" },
];

function hostOf(server: string | undefined): string {
  if (!server) return "registry-1.docker.io";
  const host = server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return host === "docker.io" || host === "index.docker.io" ? "registry-1.docker.io" : host;
}

/** The `login` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer login [OPTIONS] [SERVER]\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length > 1) throw usageError("login takes at most one server");
  const user = flags.username as string | undefined;
  let password = flags.password as string | undefined;
  if (flags["password-stdin"]) {
    if (password !== undefined) {
      throw usageError("--password and --password-stdin exclude each other");
    }
    password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  }
  if (!user || password === undefined) {
    throw usageError("login needs -u USER and -p PASSWORD or --password-stdin");
  }
  const host = hostOf(rest[0]);
  await checkLogin(host, user, password, flags.insecure === true);
  saveAuth(host, btoa(`${user}:${password}`));
  print(`Login Succeeded (credentials in ${dockerConfigPath()})`);
  return 0;
}

/** The `logout` command. */
export function logout(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, [{ name: "help", help: "Show this help" }]);
  if (flags.help) {
    print("Usage: minicontainer logout [SERVER]");
    return Promise.resolve(0);
  }
  if (rest.length > 1) throw usageError("logout takes at most one server");
  const host = hostOf(rest[0]);
  print(
    saveAuth(host, undefined)
      ? `Removing login credentials for ${host}`
      : `Not logged in to ${host}`,
  );
  return Promise.resolve(0);
}
