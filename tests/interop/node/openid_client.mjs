// panva's openid-client as the relying party of a live Ostiary, in two runs around the person
// at the browser (who is Python's: tests/interop/user_agent.py).
//
// stdin, either phase: {"phase": "authorize" | "callback", "issuer": str,
//                       "web": {"client_id": str, "client_secret": str, "redirect_uri": str,
//                               "scope": str}, ...}
// "authorize": stdout results {"authorization_url": str, "code_verifier": str, "state": str,
//              "nonce": str, "metadata": {...}}: what a relying party keeps in its session.
// "callback":  stdin adds "callback_url", "code_verifier", "state", "nonce" (from "authorize")
//              and "services": [{"name": str, "client_id": str, "scope": str,
//                                "client_secret"?: str, "private_jwk"?: {...}}];
//              stdout results, one per step: {"ok": true, "value": ...}
//                                         or {"ok": false, "name": str, "code": str | null,
//                                             "error": str | null, "message": str,
//                                             "cause": ...}
// stdout: {"openid-client": version, "results": {...}}
//
// Every step of openid-client validates what it receives as the library does for any user:
// authorizationCodeGrant checks the authorization response (state, RFC 9207 iss), the token
// response, and the ID token (signature through the JWKS, iss, aud, exp, iat, nonce, at_hash).
// Plain HTTP is allowed (allowInsecureRequests): the server runs on 127.0.0.1.
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { importJWK } from 'jose';

const TIMEOUT_SECONDS = 10;

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const web = await client.discovery(
  new URL(job.issuer),
  job.web.client_id,
  job.web.client_secret, // a string: client_secret_post, openid-client's default
  undefined,
  { execute: [client.allowInsecureRequests], timeout: TIMEOUT_SECONDS },
);

const results = job.phase === 'authorize' ? await authorize() : await callback();
const pkg = JSON.parse(
  readFileSync(new URL('./node_modules/openid-client/package.json', import.meta.url)),
);
process.stdout.write(JSON.stringify({ 'openid-client': pkg.version, results }));

async function authorize() {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(web, {
    redirect_uri: job.web.redirect_uri,
    scope: job.web.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return {
    authorization_url: url.href,
    code_verifier: codeVerifier,
    state,
    nonce,
    metadata: web.serverMetadata(),
  };
}

async function callback() {
  const results = {};
  const tokens = await step(results, 'authorization_code', async () => {
    const answer = await client.authorizationCodeGrant(web, new URL(job.callback_url), {
      pkceCodeVerifier: job.code_verifier,
      expectedState: job.state,
      expectedNonce: job.nonce,
      idTokenExpected: true,
    });
    return { ...answer, id_token_claims: answer.claims() };
  });
  if (tokens !== undefined) {
    const sub = tokens.id_token_claims.sub;
    await step(results, 'userinfo', () => client.fetchUserInfo(web, tokens.access_token, sub));
    await step(results, 'introspection', () => client.tokenIntrospection(web, tokens.access_token));
    const refreshed = await step(results, 'refresh', () =>
      client.refreshTokenGrant(web, tokens.refresh_token),
    );
    if (refreshed !== undefined) {
      await step(results, 'revocation', async () => {
        await client.tokenRevocation(web, refreshed.refresh_token);
        return null;
      });
      await step(results, 'refresh_after_revocation', () =>
        client.refreshTokenGrant(web, refreshed.refresh_token),
      );
      await step(results, 'userinfo_after_revocation', () =>
        client.fetchUserInfo(web, refreshed.access_token, sub),
      );
    }
  }
  for (const service of job.services) {
    await step(results, `client_credentials_${service.name}`, async () => {
      const config = new client.Configuration(
        web.serverMetadata(),
        service.client_id,
        undefined,
        await authentication(service),
      );
      client.allowInsecureRequests(config);
      config.timeout = TIMEOUT_SECONDS;
      return client.clientCredentialsGrant(config, { scope: service.scope });
    });
  }
  return results;
}

async function authentication(service) {
  if (service.private_jwk !== undefined) {
    const key = await importJWK(service.private_jwk, service.private_jwk.alg);
    return client.PrivateKeyJwt({ key, kid: service.private_jwk.kid });
  }
  return client.ClientSecretBasic(service.client_secret);
}

// Run one step; record its value, or the error it threw, under `name`.
async function step(results, name, run) {
  try {
    const value = await run();
    results[name] = { ok: true, value: value ?? null };
    return value;
  } catch (err) {
    results[name] = {
      ok: false,
      name: err?.name ?? null,
      code: err?.code ?? null,
      error: err?.error ?? null,
      message: String(err?.message ?? err),
      // the error body, or the WWW-Authenticate challenges
      cause: err?.cause instanceof Error ? String(err.cause) : (err?.cause ?? null),
    };
    return undefined;
  }
}
