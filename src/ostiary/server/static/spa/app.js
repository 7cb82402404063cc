// The browser-mode demo of `ostiary serve --demo` (docs/server.md, "Browser apps").
// Tokens live in these variables only: never in localStorage, sessionStorage or a readable
// cookie. The refresh token is in an HttpOnly cookie the browser sends by itself; the CSRF
// token, which the server binds to it, is echoed in X-CSRF-Token.
//
// DPoP (RFC 9449): the page holds an ECDSA P-256 key made by WebCrypto with
// `extractable: false`, so no script, this one included, can read its private half. Sign-in
// and refresh send a proof of it, so the server binds the access token (`cnf.jkt`) and the
// refresh session to the key; every API call sends `Authorization: DPoP <token>` with a fresh
// proof. A token copied out of the page is refused anywhere the key is not. The key pair (a
// CryptoKey object, not key material) and the CSRF token are kept in IndexedDB so that a
// reload can resume the session; the access and refresh tokens never are.
"use strict";

let accessToken = null;
let tokenType = "Bearer";
let csrfToken = null;
let refreshTimer = null;
let refreshes = 0;
/** The DPoP key: { privateKey, publicKey, jwk, thumbprint }, or null. */
let dpopKey = null;
/** Server nonces (RFC 9449 §8, §9) by server: "auth" (/auth/...) and "api" (/api/...). */
const dpopNonces = new Map();

const DB_NAME = "ostiary-spa";
const DB_STORE = "session";
const KEY_RECORD = "dpop-key";
const CSRF_RECORD = "csrf-token";
const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGN_ALGORITHM = { name: "ECDSA", hash: "SHA-256" };
// WebCrypto needs a secure context (HTTPS, or http on a loopback address).
const dpopAvailable = Boolean(
  window.isSecureContext && window.crypto && window.crypto.subtle && window.indexedDB,
);
const utf8 = new TextEncoder();

const byId = (id) => document.getElementById(id);

function say(text) {
  byId("status").textContent = text;
}

function signedIn(yes) {
  byId("login").hidden = yes;
  byId("app").hidden = !yes;
}

// --- IndexedDB: the key pair and the CSRF token, nothing else ----------------------------

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(DB_STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function inStore(mode, act) {
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(DB_STORE, mode);
      const request = act(transaction.objectStore(DB_STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

const readRecord = (name) => inStore("readonly", (store) => store.get(name));
const writeRecord = (name, value) => inStore("readwrite", (store) => store.put(value, name));
const clearRecords = () => inStore("readwrite", (store) => store.clear());

// --- DPoP proofs (RFC 9449 §4.2) ----------------------------------------------------------

function b64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const b64urlJson = (value) => b64url(utf8.encode(JSON.stringify(value)));
const sha256 = (text) => crypto.subtle.digest("SHA-256", utf8.encode(text));

/** The key's public JWK (the private half cannot be exported) and its RFC 7638 thumbprint. */
async function describeKey(pair) {
  const exported = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk = { kty: exported.kty, crv: exported.crv, x: exported.x, y: exported.y };
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const thumbprint = b64url(await sha256(canonical));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, jwk, thumbprint };
}

/** A fresh key for a new session, stored for reloads (kept in memory only if IndexedDB fails). */
async function newKey() {
  const pair = await crypto.subtle.generateKey(KEY_ALGORITHM, false, ["sign", "verify"]);
  dpopKey = await describeKey(pair);
  try {
    await clearRecords();
    await writeRecord(KEY_RECORD, { privateKey: pair.privateKey, publicKey: pair.publicKey });
  } catch {
    // No IndexedDB (a private window may refuse it): the session will not survive a reload.
  }
}

/** Which server a URL belongs to, for its nonce: the first segment of its path. */
function serverOf(url) {
  return new URL(url, location.href).pathname.split("/")[1] || "";
}

/** A proof for one request (RFC 9449 §4.2): `htu` is the absolute URL without query and
 * fragment; `ath` the hash of the access token presented with it, if any. */
async function dpopProof(method, url, token = null) {
  const target = new URL(url, location.href);
  target.search = "";
  target.hash = "";
  const claims = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: method,
    htu: target.href,
    iat: Math.floor(Date.now() / 1000),
  };
  if (token !== null) claims.ath = b64url(await sha256(token));
  const nonce = dpopNonces.get(serverOf(target.href));
  if (nonce) claims.nonce = nonce;
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: dpopKey.jwk };
  const signingInput = `${b64urlJson(header)}.${b64urlJson(claims)}`;
  // WebCrypto's ECDSA signature is r || s, which is exactly JWS ES256's (RFC 7518 §3.4).
  const signature = await crypto.subtle.sign(
    SIGN_ALGORITHM,
    dpopKey.privateKey,
    utf8.encode(signingInput),
  );
  return `${signingInput}.${b64url(signature)}`;
}

/** Whether an answer asks for a server nonce: 400 `use_dpop_nonce` from the authorization
 * server (RFC 9449 §8), 401 with a DPoP `use_dpop_nonce` challenge from the API (§9). */
async function asksForNonce(response) {
  if (response.status === 401) {
    return /error="use_dpop_nonce"/.test(response.headers.get("WWW-Authenticate") || "");
  }
  if (response.status !== 400) return false;
  try {
    return (await response.clone().json()).error === "use_dpop_nonce";
  } catch {
    return false;
  }
}

/** `fetch`, with a fresh DPoP proof when the page has a key and the access token `token` (if
 * given) in `Authorization`; once more with the server's nonce if it asks for one. */
async function send(url, init = {}, token = null) {
  const method = init.method || "GET";
  for (let attempt = 1; ; attempt += 1) {
    const headers = new Headers(init.headers || {});
    if (token !== null) headers.set("Authorization", `${tokenType} ${token}`);
    if (dpopKey !== null) headers.set("DPoP", await dpopProof(method, url, token));
    const response = await fetch(url, { ...init, method, headers });
    const nonce = response.headers.get("DPoP-Nonce");
    if (nonce) dpopNonces.set(serverOf(url), nonce);
    if (!(attempt === 1 && nonce && dpopKey !== null && (await asksForNonce(response)))) {
      return response;
    }
  }
}

// --- The session ---------------------------------------------------------------------------

async function keep(answer) {
  accessToken = answer.access_token;
  tokenType = answer.token_type === "DPoP" ? "DPoP" : "Bearer";
  csrfToken = answer.csrf_token;
  byId("expires").textContent = String(answer.expires_in);
  byId("token-type").textContent = tokenType;
  byId("jkt").textContent = tokenType === "DPoP" && dpopKey !== null ? dpopKey.thumbprint : "";
  clearTimeout(refreshTimer);
  // Silently, at four fifths of the access token's lifetime.
  refreshTimer = setTimeout(() => refresh(), answer.expires_in * 800);
  if (dpopKey !== null) {
    try {
      await writeRecord(CSRF_RECORD, csrfToken);
    } catch {
      // As in newKey: without IndexedDB a reload signs out.
    }
  }
}

async function forget() {
  accessToken = null;
  csrfToken = null;
  dpopKey = null;
  dpopNonces.clear();
  clearTimeout(refreshTimer);
  refreshTimer = null;
  signedIn(false);
  if (dpopAvailable) {
    try {
      await clearRecords();
    } catch {
      // Nothing was stored.
    }
  }
}

async function describe(response) {
  try {
    const body = await response.json();
    return body.error_description || body.detail || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function withCookie(path) {
  return send(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken || "" },
  });
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  if (dpopAvailable) {
    try {
      await newKey();
    } catch {
      dpopKey = null; // no ECDSA P-256 here: a Bearer token, as without WebCrypto
    }
  }
  const response = await send("/auth/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      username: form.elements.username.value,
      password: form.elements.password.value,
      cookie: true,
    }),
  });
  form.elements.password.value = "";
  if (!response.ok) {
    say(`Sign-in failed: ${await describe(response)}`);
    return;
  }
  await keep(await response.json());
  signedIn(true);
  say("Signed in.");
  await loadProfile();
}

async function refresh({ counted = true } = {}) {
  const response = await withCookie("/auth/refresh");
  if (!response.ok) {
    const why = await describe(response);
    await forget();
    say(`Session ended (${why}); sign in again.`);
    return false;
  }
  await keep(await response.json());
  if (counted) {
    refreshes += 1;
    byId("refreshes").textContent = String(refreshes);
  }
  return true;
}

async function loadProfile(retry = true) {
  if (accessToken === null) return;
  const response = await send("/api/profile", {}, accessToken);
  if (response.status === 401 && retry && (await refresh())) {
    await loadProfile(false);
    return;
  }
  if (!response.ok) {
    say(`Profile failed: ${await describe(response)}`);
    return;
  }
  const profile = await response.json();
  byId("sub").textContent = profile.sub;
  byId("roles").textContent = profile.roles.join(", ");
  byId("scope").textContent = profile.scope;
  byId("session").textContent = profile.session || "";
}

async function logout() {
  const response = await withCookie("/auth/logout");
  await forget();
  say(response.ok ? "Signed out." : `Sign-out failed: ${await describe(response)}`);
}

async function refreshNow() {
  if (await refresh()) {
    await loadProfile();
    say("Refreshed.");
  }
}

/** After a reload: the stored key and CSRF token let the refresh cookie open the session
 * again (the server accepts the cookie only with a proof of the key it is bound to). */
async function resume() {
  if (!dpopAvailable) return;
  let pair;
  let csrf;
  try {
    [pair, csrf] = await Promise.all([readRecord(KEY_RECORD), readRecord(CSRF_RECORD)]);
  } catch {
    return;
  }
  if (!pair || !csrf || accessToken !== null) return;
  dpopKey = await describeKey(pair);
  csrfToken = csrf;
  say("Resuming the session…");
  if (await refresh({ counted: false })) {
    signedIn(true);
    await loadProfile();
    say("Session resumed.");
  }
}

byId("login").addEventListener("submit", login);
byId("refresh").addEventListener("click", refreshNow);
byId("reload-profile").addEventListener("click", () => loadProfile());
byId("sign-out").addEventListener("click", logout);
resume();
