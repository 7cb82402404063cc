// A client of panva's oidc-provider (oidc_provider_dpop_server.mjs) that gets DPoP-bound
// access tokens and calls an API protected by Ostiary's resource toolkit with them
// (tests/interop/test_oidc_provider_dpop.py). The proofs are made two ways:
//
// * by panva's oauth4webapi (its DPoP handle), for the token request and for the API calls,
//   once per proof algorithm in "algs" (an Ed25519 key signs as "EdDSA" through
//   oauth4webapi's documented modifyAssertion remap; "Ed25519" is the RFC 9864 name it uses
//   by default);
// * by hand with Node's jose (SignJWT with typ dpop+jwt and the public jwk in the header,
//   RFC 9449 §4.2), including proofs that are wrong in one way each.
//
// Besides: the bound token sent as Bearer, or with another key's proof; an Ed25519 key under
// oauth4webapi's default name; and the Bearer token of a client that uses no DPoP, on the
// route that takes Bearer tokens and on the one that requires DPoP.
//
// stdin: {"issuer": str, "scope": str,
//         "dpop_client": {"client_id", "client_secret"}, "bearer_client": {...},
//         "api": {"items": url, "dpop_only": url}, "algs": [str]}
// stdout: {"oauth4webapi": version, "jose": version, "results": {step: result}}, each result
//   {"ok": true, "value": ...} or {"ok": false, "name", "code", "error", "status", ...}.
//   An API call's value is {"status", "www_authenticate", "dpop_nonce", "body",
//   "challenges", "nonce_retries"} whatever the status; a token's is the token response with
//   the thumbprint oauth4webapi calculated ("jkt") and the public JWK ("public_jwk").
import { randomUUID } from 'node:crypto';
import {
  SignJWT,
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
} from 'jose';
import * as oauth from 'oauth4webapi';
import {
  TIMEOUT_MS,
  callResource,
  describe,
  output,
  readJob,
  step,
  withNonceRetry,
} from './dpop_steps.mjs';

/** An Ed25519 key signs as "EdDSA", the name the proof's verifier may know it by. */
const remapEd25519 = {
  [oauth.modifyAssertion]: (header) => {
    if (header.alg === 'Ed25519') header.alg = 'EdDSA';
  },
};
const insecure = { [oauth.allowInsecureRequests]: true }; // the servers run on 127.0.0.1
const job = await readJob();
const results = {};

const as = await step(results, 'discovery', async () => {
  const issuer = new URL(job.issuer);
  const response = await oauth.discoveryRequest(issuer, {
    ...insecure,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return oauth.processDiscoveryResponse(issuer, response);
});
if (as !== undefined) {
  await withOauth4webapi(as);
  await withJose(as);
}
output(['oauth4webapi', 'jose'], results);

async function dpopHandle(client, alg) {
  const keyAlg = alg === 'EdDSA' ? 'Ed25519' : alg;
  const pair = await oauth.generateKeyPair(keyAlg, { modulusLength: 2048 });
  const handle = oauth.DPoP(client, pair, alg === 'EdDSA' ? remapEd25519 : undefined);
  return { handle, publicJwk: await crypto.subtle.exportKey('jwk', pair.publicKey) };
}

async function clientCredentials(client, secret, dpop) {
  const { value, nonce_retries } = await withNonceRetry(async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(secret),
      { scope: job.scope },
      { DPoP: dpop, ...insecure, signal: AbortSignal.timeout(TIMEOUT_MS) },
    );
    return oauth.processClientCredentialsResponse(as, client, response);
  });
  return { ...value, nonce_retries };
}

async function withOauth4webapi(as) {
  const client = { client_id: job.dpop_client.client_id };
  const secret = job.dpop_client.client_secret;
  const bound = {};
  for (const alg of job.algs) {
    const { handle, publicJwk } = await dpopHandle(client, alg);
    const token = await step(results, `token_${alg}`, async () => ({
      ...(await clientCredentials(client, secret, handle)),
      jkt: await handle.calculateThumbprint(),
      public_jwk: publicJwk,
    }));
    if (token === undefined) continue;
    bound[alg] = { token, handle };
    await step(results, `get_${alg}`, () =>
      callResource(token.access_token, 'GET', `${job.api.items}?page=2#top`, { dpop: handle }),
    );
    await step(results, `post_${alg}`, () =>
      callResource(token.access_token, 'POST', job.api.dpop_only, {
        dpop: handle,
        body: { name: `made with ${alg}` },
      }),
    );
  }
  const first = bound[job.algs[0]];
  if (first !== undefined) {
    // The bound token without its proof: oauth4webapi sends it as Bearer.
    await step(results, 'bearer_downgrade', () =>
      callResource(first.token.access_token, 'GET', job.api.items),
    );
    // The bound token with a proof from another key.
    const other = await dpopHandle(client, 'ES256');
    await step(results, 'other_key', () =>
      callResource(first.token.access_token, 'GET', job.api.items, { dpop: other.handle }),
    );
  }
  // An Ed25519 key with oauth4webapi's default alg name, "Ed25519" (RFC 9864).
  const pair = await oauth.generateKeyPair('Ed25519');
  const ed25519 = oauth.DPoP(client, pair);
  const token = await step(results, 'token_Ed25519', async () => ({
    ...(await clientCredentials(client, secret, ed25519)),
    jkt: await ed25519.calculateThumbprint(),
  }));
  if (token !== undefined) {
    await step(results, 'get_Ed25519', () =>
      callResource(token.access_token, 'GET', job.api.items, { dpop: ed25519 }),
    );
  }
  // A client without DPoP gets a Bearer token.
  const plain = { client_id: job.bearer_client.client_id };
  const bearer = await step(results, 'token_bearer', () =>
    clientCredentials(plain, job.bearer_client.client_secret, undefined),
  );
  if (bearer !== undefined) {
    await step(results, 'bearer_items', () =>
      callResource(bearer.access_token, 'GET', job.api.items),
    );
    await step(results, 'bearer_dpop_only', () =>
      callResource(bearer.access_token, 'POST', job.api.dpop_only, { body: {} }),
    );
  }
}

// --- proofs made with Node's jose ------------------------------------------------------------

/** A DPoP proof (RFC 9449 §4.2) signed by `key`; `claims` overrides or removes (undefined)
 * the defaults. */
async function proof(key, { htm, htu, accessToken, header = {}, ...claims }) {
  const payload = {
    jti: randomUUID(),
    htm,
    htu,
    iat: Math.floor(Date.now() / 1000),
    ...(accessToken === undefined ? {} : { ath: await ath(accessToken) }),
    ...claims,
  };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header })
    .sign(key.privateKey);
}

async function ath(accessToken) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

async function joseKey(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    modulusLength: 2048,
    extractable: true, // for the proof that wrongly carries its private key
  });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** The client credentials grant by hand: fetch with a jose-made proof. */
async function joseToken(as, key) {
  const endpoint = as.token_endpoint;
  const { client_id: id, client_secret: secret } = job.dpop_client;
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      dpop: await proof(key, { htm: 'POST', htu: endpoint }),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: job.scope }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const answer = await describe(response);
  if (answer.status !== 200) throw new Error(`token endpoint: ${JSON.stringify(answer)}`);
  return { ...answer.body, jkt: key.jkt, public_jwk: key.jwk };
}

/** An API call by hand: Authorization and DPoP headers as given (a POST with a JSON body),
 * recorded whatever the status. */
async function send(method, url, { scheme = 'DPoP', accessToken, dpop }) {
  const headers = { authorization: `${scheme} ${accessToken}` };
  if (dpop !== undefined) headers.dpop = dpop;
  let body;
  if (method === 'POST') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify({ name: 'made with jose' });
  }
  const response = await fetch(url, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return describe(response);
}

async function withJose(as) {
  const key = await joseKey('ES256');
  const token = await step(results, 'jose_token', () => joseToken(as, key));
  if (token === undefined) return;
  const at = token.access_token;
  const items = job.api.items;
  const good = (extra = {}) => proof(key, { htm: 'GET', htu: items, accessToken: at, ...extra });
  await step(results, 'jose_get', async () =>
    send('GET', items, { accessToken: at, dpop: await good() }),
  );
  const once = await good();
  await step(results, 'jose_first_use', () => send('GET', items, { accessToken: at, dpop: once }));
  await step(results, 'jose_replay', () => send('GET', items, { accessToken: at, dpop: once }));
  await step(results, 'jose_lowercase_scheme', async () =>
    send('GET', items, { scheme: 'dpop', accessToken: at, dpop: await good() }),
  );
  const cases = {
    // the proof of another key than the token's cnf.jkt
    jose_other_key: async () => {
      const other = await joseKey('ES256');
      return proof(other, { htm: 'GET', htu: items, accessToken: at });
    },
    jose_no_ath: () => good({ ath: undefined }),
    jose_wrong_ath: () => good({ ath: base64url.encode(new Uint8Array(32)) }),
    jose_wrong_htm: () => good({ htm: 'POST' }),
    jose_wrong_htu: () => good({ htu: job.api.dpop_only }),
    jose_stale_iat: () => good({ iat: Math.floor(Date.now() / 1000) - 3600 }),
    jose_future_iat: () => good({ iat: Math.floor(Date.now() / 1000) + 3600 }),
    jose_no_jti: () => good({ jti: undefined }),
    jose_wrong_typ: () => good({ header: { typ: 'JWT' } }),
    jose_private_jwk: async () => {
      const privateJwk = await exportJWK(key.privateKey);
      return good({ header: { jwk: privateJwk } });
    },
  };
  for (const [name, make] of Object.entries(cases)) {
    await step(results, name, async () => send('GET', items, { accessToken: at, dpop: await make() }));
  }
  // The bound token as Bearer, with its (good) proof alongside, to the DPoP-only route.
  await step(results, 'jose_bearer_with_proof', async () =>
    send('POST', job.api.dpop_only, {
      scheme: 'Bearer',
      accessToken: at,
      dpop: await proof(key, { htm: 'POST', htu: job.api.dpop_only, accessToken: at }),
    }),
  );
  // An RSA key made by jose, PS256, on the POST route.
  const rsa = await joseKey('PS256');
  const rsaToken = await step(results, 'jose_token_PS256', () => joseToken(as, rsa));
  if (rsaToken !== undefined) {
    await step(results, 'jose_post_PS256', async () =>
      send('POST', job.api.dpop_only, {
        accessToken: rsaToken.access_token,
        dpop: await proof(rsa, {
          htm: 'POST',
          htu: job.api.dpop_only,
          accessToken: rsaToken.access_token,
        }),
      }),
    );
  }
}
