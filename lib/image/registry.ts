/**
 * A client of the OCI distribution API: manifests and blobs over HTTP(S),
 * with Docker Hub's token service and any registry's bearer or basic auth
 * (credentials from MINICONTAINER_REGISTRY_USER/_PASSWORD or a docker-style
 * config.json, which `login` writes). Plain HTTP when asked (--insecure) and
 * for a registry on this machine (localhost, 127.0.0.0/8, ::1), as docker
 * does. Failures name their cause: refused, DNS, TLS, or the registry's own
 * error message with its HTTP status.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import type { Reference } from "./reference.ts";

/** The media types a pull accepts for a manifest. */
export const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

/** docker's config directory: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigPath(): string {
  const dir = Deno.env.get("DOCKER_CONFIG") ?? `${Deno.env.get("HOME") ?? "/root"}/.docker`;
  return `${dir}/config.json`;
}

/** The keys docker's config.json may file `host`'s credentials under. */
export function authKeys(host: string): string[] {
  return host === "registry-1.docker.io" || host === "docker.io"
    ? ["https://index.docker.io/v1/", "docker.io", "registry-1.docker.io"]
    : [host, `https://${host}`, `http://${host}`];
}

function credentials(host: string): string | undefined {
  const user = Deno.env.get("MINICONTAINER_REGISTRY_USER");
  const password = Deno.env.get("MINICONTAINER_REGISTRY_PASSWORD");
  if (user && password) return btoa(`${user}:${password}`);
  try {
    const config = JSON.parse(Deno.readTextFileSync(dockerConfigPath()));
    for (const k of authKeys(host)) if (config.auths?.[k]?.auth) return config.auths[k].auth;
  } catch { /* no docker config */ }
  return undefined;
}

function challenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(" ");
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme: header.slice(0, space).toLowerCase(), params };
}

/** Whether `host` (with its port) is this machine: docker talks plain HTTP to those. */
export function isLoopback(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0];
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** Why fetch failed, in words: the cause Deno puts in the error's `cause`. */
export function fetchFailure(e: unknown, insecure: boolean): string {
  const err = e as Error & { cause?: unknown };
  const text = `${err?.message ?? e} ${String(err?.cause ?? "")}`;
  if (/connection refused/i.test(text)) return "connection refused";
  if (/dns error|failed to lookup address/i.test(text)) {
    return "its name does not resolve (DNS)";
  }
  if (/InvalidContentType|corrupt message|wrong version number/i.test(text) && !insecure) {
    return "it answered plain HTTP to a TLS connection; use --insecure for a registry without TLS";
  }
  if (/certificate|tls|handshake/i.test(text)) {
    return `TLS failed: ${text.slice(text.lastIndexOf(": ") + 2).trim()}`;
  }
  if (/timed out|timeout/i.test(text)) return "the connection timed out";
  if (/connection reset|broken pipe/i.test(text)) return "the connection was reset";
  const cause = String(err?.cause ?? err?.message ?? e);
  return cause.slice(cause.lastIndexOf(": ") + 2).split("\n")[0];
}

/** The registry's own words for a failed reply: its errors[].message, else the status text. */
export async function registryError(res: Response): Promise<string> {
  let detail = "";
  let body = "";
  try {
    body = await res.text();
    const doc = JSON.parse(body);
    detail = (doc.errors ?? []).map((e: { code?: string; message?: string }) =>
      [e.code, e.message].filter(Boolean).join(": ")
    ).join("; ");
  } catch {
    // Not the API's JSON: a short plain-text body still says something (a proxy, a read-only mode).
    const text = body.trim();
    if (text && text.length <= 200 && !text.includes("\n") && !text.startsWith("<")) {
      detail = text.toLowerCase() === res.statusText.toLowerCase() ? "" : text;
    }
  }
  return `the registry answered ${res.status} ${res.statusText}${detail ? ` (${detail})` : ""}`;
}

/** A session with one registry for one repository, to pull (or push). */
export class Registry {
  private authorization?: string;
  readonly base: string;
  readonly origin: string;

  constructor(
    readonly ref: Reference,
    readonly insecure: boolean,
    readonly action: "pull" | "push" = "pull",
  ) {
    const scheme = insecure || isLoopback(ref.host) ? "http" : "https";
    this.origin = `${scheme}://${ref.host}`;
    this.base = `${this.origin}/v2/${ref.repository}`;
  }

  private async authenticate(res: Response, scopes: string[]): Promise<boolean> {
    const header = res.headers.get("www-authenticate");
    if (!header) return false;
    const { scheme, params } = challenge(header);
    const creds = credentials(this.ref.host);
    if (scheme === "basic") {
      if (!creds || this.authorization === `Basic ${creds}`) return false;
      this.authorization = `Basic ${creds}`;
      return true;
    }
    if (scheme !== "bearer" || !params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    for (const s of params.scope ? [params.scope] : scopes) url.searchParams.append("scope", s);
    let tokenRes: Response;
    try {
      tokenRes = await fetch(url, { headers: creds ? { authorization: `Basic ${creds}` } : {} });
    } catch (e) {
      throw new ContainerError("log in to", url.host, undefined, fetchFailure(e, false));
    }
    if (!tokenRes.ok) {
      throw new ContainerError(
        "log in to",
        this.ref.host,
        undefined,
        await registryError(tokenRes),
      );
    }
    const body = await tokenRes.json();
    const token = `Bearer ${body.token ?? body.access_token}`;
    if (token === this.authorization) return false;
    this.authorization = token;
    return true;
  }

  /**
   * Sends `method` to `path` (under the repository, or an absolute URL a
   * registry gave), authenticating when challenged. Access refused is an
   * error; any other status is the caller's to read.
   */
  async request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: BodyInit | (() => BodyInit) } = {},
    extraScopes: string[] = [],
  ): Promise<Response> {
    const url = /^https?:/.test(path)
      ? path
      : path.startsWith("/")
      ? `${this.origin}${path}`
      : `${this.base}/${path}`;
    const scopes = [
      `repository:${this.ref.repository}:${this.action === "push" ? "pull,push" : "pull"}`,
      ...extraScopes,
    ];
    const go = () =>
      fetch(url, {
        method,
        redirect: "follow",
        headers: {
          ...init.headers,
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        body: typeof init.body === "function" ? init.body() : init.body,
      });
    let res: Response;
    try {
      res = await go();
      if (res.status === 401 && (await this.authenticate(res, scopes))) {
        await res.body?.cancel();
        res = await go();
      }
    } catch (e) {
      if (e instanceof ContainerError) throw e;
      throw new ContainerError(
        "reach registry",
        this.ref.host,
        undefined,
        fetchFailure(e, this.insecure || isLoopback(this.ref.host)),
      );
    }
    if (res.status === 401 || res.status === 403) {
      const why = await registryError(res);
      throw new ContainerError(
        this.action,
        this.ref.local,
        undefined,
        `the registry refused access (${res.status}); check the credentials (${why})`,
      );
    }
    return res;
  }

  /** GET `path` under the repository. */
  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request("GET", path, { headers });
  }

  /** A manifest (or index) by tag or digest: its bytes and media type. */
  async manifest(reference: string): Promise<{ bytes: Uint8Array; mediaType: string }> {
    const res = await this.get(`manifests/${reference}`, { accept: MANIFEST_TYPES.join(", ") });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new ContainerError(
        "pull",
        this.ref.local,
        undefined,
        "no such image or tag in the registry",
      );
    }
    if (!res.ok) {
      throw new ContainerError("pull", this.ref.local, undefined, await registryError(res));
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    let mediaType = res.headers.get("content-type") ?? "";
    try {
      mediaType = JSON.parse(new TextDecoder().decode(bytes)).mediaType ?? mediaType;
    } catch { /* the header says */ }
    return { bytes, mediaType };
  }
}

/**
 * Checks `user`/`password` against the registry at `host` (GET /v2/ with
 * basic auth, or the token service its challenge names); throws when refused.
 */
export async function checkLogin(
  host: string,
  user: string,
  password: string,
  insecure: boolean,
): Promise<void> {
  const origin = `${insecure || isLoopback(host) ? "http" : "https"}://${host}`;
  const basic = `Basic ${btoa(`${user}:${password}`)}`;
  const get = async (url: string | URL, authorization?: string) => {
    try {
      return await fetch(url, { headers: authorization ? { authorization } : {} });
    } catch (e) {
      throw new ContainerError(
        "reach registry",
        host,
        undefined,
        fetchFailure(e, insecure || isLoopback(host)),
      );
    }
  };
  let res = await get(`${origin}/v2/`);
  if (res.status === 401) {
    const { scheme, params } = challenge(res.headers.get("www-authenticate") ?? "");
    await res.body?.cancel();
    if (scheme === "bearer" && params.realm) {
      const url = new URL(params.realm);
      if (params.service) url.searchParams.set("service", params.service);
      const token = await get(url, basic);
      if (!token.ok) {
        throw new ContainerError("log in to", host, undefined, await registryError(token));
      }
      const body = await token.json();
      res = await get(`${origin}/v2/`, `Bearer ${body.token ?? body.access_token}`);
    } else res = await get(`${origin}/v2/`, basic);
  }
  if (!res.ok) throw new ContainerError("log in to", host, undefined, await registryError(res));
  await res.body?.cancel();
}

/** Records (or with `auth` undefined, forgets) `host`'s credentials in docker's config.json. */
export function saveAuth(host: string, auth: string | undefined): boolean {
  const path = dockerConfigPath();
  let config: { auths?: Record<string, { auth?: string }> } = {};
  try {
    config = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fromDenoError("read", path, e);
  }
  config.auths ??= {};
  const keys = authKeys(host);
  const had = keys.some((k) => config.auths![k]);
  for (const k of keys) delete config.auths[k];
  if (auth) config.auths[keys[0]] = { auth };
  const dir = path.slice(0, path.lastIndexOf("/"));
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.writeTextFileSync(tmp, JSON.stringify(config, null, "\t") + "\n", { mode: 0o600 });
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never written */ }
    throw fromDenoError("write", path, e);
  }
  return had;
}
