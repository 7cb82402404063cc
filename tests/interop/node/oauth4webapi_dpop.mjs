// panva's oauth4webapi as a DPoP client (RFC 9449) of a live Ostiary, and of an API that
// Ostiary's resource toolkit protects (tests/interop/test_oauth4webapi_dpop.py). Two runs
// around the person at the browser (tests/interop/user_agent.py), as openid_client.mjs does.
//
// stdin, either phase: {"phase": "authorize" | "callback", "issuer": str,
//   "app": {"client_id": str, "redirect_uri": str, "scope": str, "alg": str},
//   "api": {"items": url, "dpop_only": url}}
// "authorize": the public client (no secret, PKCE S256) generates its DPoP key pair with
//   oauth4webapi, and builds the authorization URL with state and, for RFC 9449 §10,
//   dpop_jkt (the key's thumbprint, by oauth4webapi's calculateThumbprint).
//   results: {"authorization_url", "code_verifier", "state", "jkt", "private_jwk",
//             "public_jwk", "metadata", "other": {"authorization_url", "code_verifier",
//             "state"}}: what the application keeps between the two requests; "other" is a
//   second authorization request for the same key.
// "callback": stdin adds "callback_url", "code_verifier", "state", "private_jwk",
//   "public_jwk" (from "authorize"), "other": {"callback_url", "code_verifier", "state"}
//   (whose code is redeemed with another key's proof) and "services": [{"name",
//   "client_id", "client_secret", "scope", "alg" | null}] (confidential clients; alg null:
//   no DPoP).
//   results, one per step: {"ok": true, "value": ...} or {"ok": false, "name", "code",
//   "error", "status", ...}. Token steps give oauth4webapi's processed token response and
//   "nonce_retries"; API steps give {"status", "www_authenticate", "dpop_nonce", "body",
//   "challenges", "nonce_retries"} whatever the status; each service also introspects its
//   token (RFC 7662).
// stdout: {"oauth4webapi": version, "results": {...}}
//
// Every token response goes through oauth4webapi's processing, which checks it as it does for
// any server (token_type "dpop" or "bearer", the ID token when one comes). A request refused
// with use_dpop_nonce is sent once more with the server's nonce, as oauth4webapi documents.
// Plain HTTP is allowed (allowInsecureRequests): everything runs on 127.0.0.1.
import { importJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { TIMEOUT_MS, callResource, output, readJob, step, withNonceRetry } from './dpop_steps.mjs';

/** An Ed25519 key signs as "EdDSA" (oauth4webapi's documented remap of its RFC 9864 default,
 * "Ed25519"). */
const remapEd25519 = {
  [oauth.modifyAssertion]: (header) => {
    if (header.alg === 'Ed25519') header.alg = 'EdDSA';
  },
};
const insecure = { [oauth.allowInsecureRequests]: true };
const job = await readJob();
const app = { client_id: job.app.client_id };

const issuer = new URL(job.issuer);
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { ...insecure, signal: AbortSignal.timeout(TIMEOUT_MS) }),
);

const results = job.phase === 'authorize' ? await authorize() : await callback();
output(['oauth4webapi'], results);

function options(dpop) {
  return { DPoP: dpop, ...insecure, signal: AbortSignal.timeout(TIMEOUT_MS) };
}

async function newKeyPair(alg) {
  return oauth.generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, {
    extractable: true, // kept by the application between its two runs
    modulusLength: 2048,
  });
}

function handle(client, pair, alg) {
  return oauth.DPoP(client, pair, alg === 'EdDSA' ? remapEd25519 : undefined);
}

async function authorize() {
  const pair = await newKeyPair(job.app.alg);
  const jkt = await handle(app, pair, job.app.alg).calculateThumbprint();
  return {
    ...(await authorizationRequest(jkt)),
    // A second request for the same key, whose code the callback run redeems with another
    // key's proof.
    other: await authorizationRequest(jkt),
    jkt,
    private_jwk: await crypto.subtle.exportKey('jwk', pair.privateKey),
    public_jwk: await crypto.subtle.exportKey('jwk', pair.publicKey),
    metadata: as,
  };
}

async function authorizationRequest(jkt) {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: app.client_id,
    response_type: 'code',
    redirect_uri: job.app.redirect_uri,
    scope: job.app.scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    dpop_jkt: jkt,
  }).toString();
  return { authorization_url: url.href, code_verifier: codeVerifier, state };
}

/** The key pair the "authorize" run generated, as the application kept it. */
async function keptKeyPair() {
  const alg = job.app.alg;
  return {
    privateKey: await importJWK(job.private_jwk, alg),
    publicKey: await importJWK(job.public_jwk, alg, { extractable: true }),
  };
}

/** A token request and oauth4webapi's processing of its response, as one step; `extra` is
 * added to the value. */
async function tokenStep(results, name, request, process, extra = {}) {
  return step(results, name, async () => {
    const { value, nonce_retries } = await withNonceRetry(async () => process(await request()));
    return { ...value, nonce_retries, ...extra };
  });
}

function refresh(results, name, refreshToken, dpop) {
  return tokenStep(
    results,
    name,
    () => oauth.refreshTokenGrantRequest(as, app, oauth.None(), refreshToken, options(dpop)),
    (response) => oauth.processRefreshTokenResponse(as, app, response),
  );
}

async function callback() {
  const results = {};
  const alg = job.app.alg;
  const dpop = handle(app, await keptKeyPair(), alg);
  const other = handle(app, await newKeyPair('ES256'), 'ES256');
  // RFC 9449 §10: the code of a request that named dpop_jkt, redeemed with another key.
  await redeem(results, 'authorization_code_other_key', job.other, other);
  const tokens = await redeem(results, 'authorization_code', job, dpop);
  if (tokens !== undefined) {
    const at = tokens.access_token;
    await step(results, 'get', () =>
      callResource(at, 'GET', `${job.api.items}?page=2`, { dpop }),
    );
    await step(results, 'post', () =>
      callResource(at, 'POST', job.api.dpop_only, { dpop, body: { name: 'oauth4webapi' } }),
    );
    await step(results, 'bearer_downgrade', () => callResource(at, 'GET', job.api.items));
    await step(results, 'other_key', () =>
      callResource(at, 'GET', job.api.items, { dpop: other }),
    );
    // The refresh token is bound to the key (RFC 9449 §5): another key's proof, or none, is
    // refused; then the right key refreshes.
    await refresh(results, 'refresh_other_key', tokens.refresh_token, other);
    await refresh(results, 'refresh_without_proof', tokens.refresh_token, undefined);
    const refreshed = await refresh(results, 'refresh', tokens.refresh_token, dpop);
    if (refreshed !== undefined) {
      await step(results, 'get_refreshed', () =>
        callResource(refreshed.access_token, 'GET', job.api.items, { dpop }),
      );
      await refresh(results, 'refresh_again', refreshed.refresh_token, dpop);
    }
  }
  for (const service of job.services) {
    await clientCredentials(results, service);
  }
  return results;
}

/** Validate the authorization response at `callback_url` and redeem its code with `dpop`. */
async function redeem(results, name, { callback_url, state, code_verifier }, dpop) {
  const params = await step(results, `${name}_response`, () =>
    oauth.validateAuthResponse(as, app, new URL(callback_url), state),
  );
  if (params === undefined) return undefined;
  return tokenStep(
    results,
    name,
    () =>
      oauth.authorizationCodeGrantRequest(
        as,
        app,
        oauth.None(),
        params,
        job.app.redirect_uri,
        code_verifier,
        options(dpop),
      ),
    (response) => oauth.processAuthorizationCodeResponse(as, app, response),
  );
}

async function clientCredentials(results, service) {
  const client = { client_id: service.client_id };
  const dpop =
    service.alg === null ? undefined : handle(client, await newKeyPair(service.alg), service.alg);
  const token = await tokenStep(
    results,
    `client_credentials_${service.name}`,
    async () =>
      oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(service.client_secret),
        { scope: service.scope },
        options(dpop),
      ),
    (response) => oauth.processClientCredentialsResponse(as, client, response),
    { jkt: dpop === undefined ? null : await dpop.calculateThumbprint() },
  );
  if (token === undefined) return;
  await step(results, `api_${service.name}`, () =>
    callResource(token.access_token, 'GET', job.api.items, { dpop }),
  );
  // RFC 7662, and RFC 9449 §6.2: the introspection of a bound token says so (cnf).
  await step(results, `introspection_${service.name}`, async () => {
    const response = await oauth.introspectionRequest(
      as,
      client,
      oauth.ClientSecretBasic(service.client_secret),
      token.access_token,
      { ...insecure, signal: AbortSignal.timeout(TIMEOUT_MS) },
    );
    return oauth.processIntrospectionResponse(as, client, response);
  });
}
