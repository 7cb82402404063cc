// panva's oidc-provider with DPoP (RFC 9449) on, as the issuer whose DPoP-bound tokens
// Ostiary's resource toolkit verifies (tests/interop/test_oidc_provider_dpop.py).
//
// stdin: {"resource": str, "scope": str,
//         "clients": [{"client_id": str, "client_secret": str, "dpop_bound": bool}]}
// stdout, one line once listening: {"oidc-provider": version, "issuer": str, "jwks_uri": str}
// Then it serves until SIGTERM or SIGINT. Listens on 127.0.0.1, on a port the system picks,
// so no other process can take it between a look and the bind; the issuer is that address.
//
// Each client is confidential (client_secret_basic) with the client credentials grant only;
// "dpop_bound" sets the RFC 9449 §5.2 client metadata dpop_bound_access_tokens, so that such a
// client gets no token without a proof. Access tokens are RFC 9068 JWTs signed ES256 for the
// one resource server "resource" (the resourceIndicators feature), with cnf.jkt when a proof
// came with the token request. features.dPoP is on (oidc-provider 9 turns it on by default;
// it is spelled out here); the proof algorithms oidc-provider accepts are widened from its
// default (ES256, Ed25519, EdDSA) to the RSA ones the tests use as well. No server nonces.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const signing = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'op-es256' };

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: job.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256', // the one key is ES256
    dpop_bound_access_tokens: Boolean(c.dpop_bound),
    scope: job.scope,
  })),
  jwks: { keys: [signing] },
  scopes: [job.scope],
  enabledJWA: {
    dPoPSigningAlgValues: ['ES256', 'ES384', 'Ed25519', 'EdDSA', 'PS256', 'RS256'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true, allowReplay: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => job.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== job.resource) throw new Error('unknown resource');
        return {
          scope: job.scope,
          audience: job.resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());

const pkg = JSON.parse(
  readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url)),
);
process.stdout.write(
  `${JSON.stringify({ 'oidc-provider': pkg.version, issuer, jwks_uri: `${issuer}/jwks` })}\n`,
);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
