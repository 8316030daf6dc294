/**
 * Image references as docker reads them: [REGISTRY/]NAME[:TAG|@DIGEST],
 * Docker Hub by default (docker.io, with library/ for one-word names).
 * @module
 */

import { usageError } from "../errors.ts";

/** A parsed reference. */
export interface Reference {
  /** Where to connect: "registry-1.docker.io", "localhost:5000". */
  host: string;
  /** The repository: "library/alpine". */
  repository: string;
  /** A tag, when not pulled by digest. */
  tag?: string;
  /** "sha256:...", when pulled by digest. */
  digest?: string;
  /** How the image is named locally: "alpine:3.19", "localhost:5000/bb:1". */
  local: string;
}

/** Parses a reference; a malformed one is a usage error. */
export function parseReference(text: string): Reference {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw usageError(`"${text}": the digest must be sha256:<64 hex>`);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split("/");
  let host = "docker.io";
  if (
    parts.length > 1 &&
    (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")
  ) {
    host = parts.shift()!;
  }
  let repository = parts.join("/");
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repository)) {
    throw usageError(`"${text}" is not a valid image reference`);
  }
  if (host === "docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  if (!digest) tag ??= "latest";
  const shown = host === "docker.io"
    ? repository.replace(/^library\//, "")
    : `${host}/${repository}`;
  return {
    host: host === "docker.io" ? "registry-1.docker.io" : host,
    repository,
    tag,
    digest,
    local: digest ? `${shown}@${digest}` : `${shown}:${tag}`,
  };
}
