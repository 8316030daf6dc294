/**
 * A client of the OCI distribution API: manifests and blobs over HTTP(S),
 * with Docker Hub's token service and any registry's bearer or basic auth
 * (credentials from MINICONTAINER_REGISTRY_USER/_PASSWORD or a docker-style
 * ~/.docker/config.json). Plain HTTP only when asked (--insecure).
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { Reference } from "./reference.ts";

/** The media types a pull accepts for a manifest. */
export const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

function credentials(host: string): string | undefined {
  const user = Deno.env.get("MINICONTAINER_REGISTRY_USER");
  const password = Deno.env.get("MINICONTAINER_REGISTRY_PASSWORD");
  if (user && password) return btoa(`${user}:${password}`);
  const home = Deno.env.get("DOCKER_CONFIG") ?? `${Deno.env.get("HOME") ?? "/root"}/.docker`;
  try {
    const config = JSON.parse(Deno.readTextFileSync(`${home}/config.json`));
    const keys = host === "registry-1.docker.io"
      ? ["https://index.docker.io/v1/", "docker.io", host]
      : [host, `https://${host}`];
    for (const k of keys) if (config.auths?.[k]?.auth) return config.auths[k].auth;
  } catch { /* no docker config */ }
  return undefined;
}

function challenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(" ");
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme: header.slice(0, space).toLowerCase(), params };
}

/** A session with one registry for one repository. */
export class Registry {
  private authorization?: string;
  readonly base: string;

  constructor(readonly ref: Reference, insecure: boolean) {
    this.base = `${insecure ? "http" : "https"}://${ref.host}/v2/${ref.repository}`;
  }

  private async authenticate(res: Response): Promise<boolean> {
    const header = res.headers.get("www-authenticate");
    if (!header) return false;
    const { scheme, params } = challenge(header);
    const creds = credentials(this.ref.host);
    if (scheme === "basic") {
      if (!creds) return false;
      this.authorization = `Basic ${creds}`;
      return true;
    }
    if (scheme !== "bearer" || !params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", params.scope ?? `repository:${this.ref.repository}:pull`);
    const tokenRes = await fetch(url, {
      headers: creds ? { authorization: `Basic ${creds}` } : {},
    });
    if (!tokenRes.ok) {
      throw new ContainerError(
        "log in to",
        this.ref.host,
        undefined,
        `the token service said ${tokenRes.status} ${tokenRes.statusText}`,
      );
    }
    const body = await tokenRes.json();
    this.authorization = `Bearer ${body.token ?? body.access_token}`;
    return true;
  }

  /** GET `path` under the repository, authenticating once if asked to. */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.base}/${path}`;
    const go = () =>
      fetch(url, {
        headers: {
          ...headers,
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
      });
    let res: Response;
    try {
      res = await go();
      if (res.status === 401 && (await this.authenticate(res))) {
        await res.body?.cancel();
        res = await go();
      }
    } catch (e) {
      if (e instanceof ContainerError) throw e;
      throw new ContainerError(
        "reach registry",
        this.ref.host,
        undefined,
        (e as Error).message.split("\n")[0],
      );
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new ContainerError(
        "pull",
        this.ref.local,
        undefined,
        `the registry refused access (${res.status}); check the credentials`,
      );
    }
    return res;
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
      await res.body?.cancel();
      throw new ContainerError(
        "pull",
        this.ref.local,
        undefined,
        `the registry answered ${res.status} ${res.statusText}`,
      );
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    let mediaType = res.headers.get("content-type") ?? "";
    try {
      mediaType = JSON.parse(new TextDecoder().decode(bytes)).mediaType ?? mediaType;
    } catch { /* the header says */ }
    return { bytes, mediaType };
  }
}
