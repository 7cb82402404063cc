// Node's jose signs access tokens for Ostiary to verify.
//
// stdin:  {"cases": [{"name": str, "alg": str, "claims": {...}, "secret"?: base64url,
//                     "kid"?: str}]}
// stdout: {"jose": version, "results": {name: {"token": str, "kid": str,
//                                             "jwk": {...} | null, "exported": {...} | null}}}
//
// For an asymmetric algorithm jose generates the key pair: "exported" is exportJWK's output
// as is, "jwk" the same key as an issuer would publish it (kid = RFC 7638 thumbprint, alg, use).
// An HMAC secret comes in the job. iss, sub, aud and jti go through SignJWT's setters, iat and
// exp are set by jose from its own clock; every other claim is passed through as given.
import { readFileSync } from 'node:fs';
import { SignJWT, base64url, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = {};
for (const c of job.cases) {
  let key;
  let kid = c.kid;
  let exported = null;
  let jwk = null;
  if (c.secret === undefined) {
    const pair = await generateKeyPair(c.alg, { extractable: true });
    key = pair.privateKey;
    exported = await exportJWK(pair.publicKey);
    kid ??= await calculateJwkThumbprint(exported);
    jwk = { ...exported, kid, alg: c.alg, use: 'sig' };
  } else {
    key = base64url.decode(c.secret);
  }
  const { iss, sub, aud, jti, ...rest } = c.claims;
  const token = await new SignJWT(rest)
    .setProtectedHeader({ alg: c.alg, kid, typ: 'at+jwt' })
    .setIssuer(iss)
    .setSubject(sub)
    .setAudience(aud)
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
  results[c.name] = { token, kid, jwk, exported };
}

const jose = JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url)));
process.stdout.write(JSON.stringify({ jose: jose.version, results }));
