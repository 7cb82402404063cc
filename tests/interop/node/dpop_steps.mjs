// What the DPoP interop scripts (oauth4webapi_dpop.mjs, oidc_provider_dpop_client.mjs) share:
// the job on stdin, the output on stdout, steps that record a value or the error thrown, and
// calls to a protected resource recorded with their status, challenges and body.
import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';

export const TIMEOUT_MS = 10_000;

/** The job: JSON on stdin. */
export async function readJob() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** The installed version of npm package `name`. */
export function versionOf(name) {
  const manifest = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(manifest)).version;
}

/** Write {package: version, ..., "results": results} to stdout. */
export function output(packages, results) {
  const versions = Object.fromEntries(packages.map((name) => [name, versionOf(name)]));
  process.stdout.write(JSON.stringify({ ...versions, results }));
}

/** Run one step; record {"ok": true, "value": ...} or the error it threw under `name`;
 * return the value (undefined after an error). */
export async function step(results, name, run) {
  try {
    const value = await run();
    results[name] = { ok: true, value: value ?? null };
    return value;
  } catch (err) {
    results[name] = { ok: false, ...errorInfo(err) };
    return undefined;
  }
}

/** What an error of oauth4webapi (or any other) says, as JSON. */
export function errorInfo(err) {
  return {
    name: err?.name ?? null,
    code: err?.code ?? null,
    error: err?.error ?? null,
    error_description: err?.error_description ?? null,
    status: err?.status ?? err?.response?.status ?? null,
    message: String(err?.message ?? err),
    // the error body, or the WWW-Authenticate challenges
    cause: err?.cause instanceof Error ? String(err.cause) : (err?.cause ?? null),
  };
}

/** Run `attempt` (an oauth4webapi request and its processing, with the same DPoP handle);
 * once more when the server asked for a DPoP nonce (RFC 9449 §8 and §9), as oauth4webapi's
 * documentation shows. Returns {value, nonce_retries}. */
export async function withNonceRetry(attempt) {
  try {
    return { value: await attempt(), nonce_retries: 0 };
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return { value: await attempt(), nonce_retries: 1 };
  }
}

/** A protected resource request made by oauth4webapi (Authorization: DPoP and a proof when
 * `dpop` is a DPoP handle; Bearer otherwise), retried once on a use_dpop_nonce challenge.
 * Never throws for an HTTP answer: records its status, the challenges oauth4webapi parsed
 * from WWW-Authenticate, and the body. */
export async function callResource(accessToken, method, url, { dpop, body } = {}) {
  const send = async () => {
    const headers = new Headers();
    if (body !== undefined) headers.set('content-type', 'application/json');
    return oauth.protectedResourceRequest(
      accessToken,
      method,
      new URL(url),
      headers,
      body === undefined ? undefined : JSON.stringify(body),
      {
        DPoP: dpop,
        [oauth.allowInsecureRequests]: true, // the API runs on 127.0.0.1
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
    );
  };
  let nonceRetries = 0;
  let response;
  let challenges = null;
  try {
    response = await send();
  } catch (err) {
    if (dpop !== undefined && oauth.isDPoPNonceError(err)) {
      nonceRetries = 1;
      try {
        response = await send();
      } catch (again) {
        if (!(again instanceof oauth.WWWAuthenticateChallengeError)) throw again;
        ({ response } = again);
        challenges = again.cause;
      }
    } else {
      if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
      ({ response } = err);
      challenges = err.cause;
    }
  }
  return { ...(await describe(response)), challenges, nonce_retries: nonceRetries };
}

/** An HTTP answer as JSON: status, the headers that matter here, and the body. */
export async function describe(response) {
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return {
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    dpop_nonce: response.headers.get('dpop-nonce'),
    body: json ?? text,
  };
}
