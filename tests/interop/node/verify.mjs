// Node's jose verifies tokens that Ostiary signed.
//
// stdin:  {"issuer": str, "audience": str, "jwks_url": str,
//          "cases": [{"name": str, "alg": str, "token": str, "secret"?: base64url,
//                     "audience"?: str}]}
// stdout: {"jose": version, "results": {name: {"ok": true, "payload": {...}, "header": {...}}
//                                             | {"ok": false, "code": str, "error": str}}}
//
// Asymmetric keys come from the remote JWKS (one createRemoteJWKSet for every case, as a
// resource server would hold it); an HMAC secret is never published, so it comes in the job.
import { readFileSync } from 'node:fs';
import { base64url, createRemoteJWKSet, jwtVerify } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const jwks = createRemoteJWKSet(new URL(job.jwks_url));
const results = {};
for (const c of job.cases) {
  const key = c.secret === undefined ? jwks : base64url.decode(c.secret);
  try {
    const { payload, protectedHeader } = await jwtVerify(c.token, key, {
      issuer: job.issuer,
      audience: c.audience ?? job.audience,
      typ: 'at+jwt',
      algorithms: [c.alg],
    });
    results[c.name] = { ok: true, payload, header: protectedHeader };
  } catch (err) {
    results[c.name] = { ok: false, code: err.code ?? null, error: String(err) };
  }
}

const jose = JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url)));
process.stdout.write(JSON.stringify({ jose: jose.version, results }));
