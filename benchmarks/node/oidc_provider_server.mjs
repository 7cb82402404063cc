// panva's oidc-provider as the peer of `python -m benchmarks peers` (benchmarks/peers.py).
//
// Usage: node oidc_provider_server.mjs PORT CLIENT_SECRET
// One confidential client, "bench-service" (client_secret_basic, client_credentials only),
// whose tokens are JWT access tokens signed ES256 for the resource server BENCH_AUDIENCE (default https://api.example: an absolute URI, RFC 8707) through the
// resourceIndicators feature; the in-memory adapter (the default); one ES256 signing key
// generated at start (the only key in the JWKS, as Ostiary's access-token ring holds one
// active key). Run with NODE_ENV=production. Listens on 127.0.0.1 only.
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const [port, secret] = process.argv.slice(2);
if (!port || !secret) {
  console.error('usage: node oidc_provider_server.mjs PORT CLIENT_SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = process.env.BENCH_AUDIENCE || 'https://api.example';
const SCOPE = 'reports:read';

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const signing = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench-service',
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256', // the one key is ES256 (no RS256 key here)
      scope: SCOPE,
    },
  ],
  jwks: { keys: [signing] },
  scopes: [SCOPE],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new Error('unknown resource');
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
