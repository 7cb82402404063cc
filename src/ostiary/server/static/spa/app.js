// The browser-mode demo of `ostiary serve --demo` (docs/server.md, "Browser apps").
// Tokens live in these variables only: never in localStorage, sessionStorage or a readable
// cookie. The refresh token is in an HttpOnly cookie the browser sends by itself; the CSRF
// token, which the server binds to it, is echoed in X-CSRF-Token.
"use strict";

let accessToken = null;
let csrfToken = null;
let refreshTimer = null;
let refreshes = 0;

const byId = (id) => document.getElementById(id);

function say(text) {
  byId("status").textContent = text;
}

function signedIn(yes) {
  byId("login").hidden = yes;
  byId("app").hidden = !yes;
}

function keep(answer) {
  accessToken = answer.access_token;
  csrfToken = answer.csrf_token;
  byId("expires").textContent = String(answer.expires_in);
  clearTimeout(refreshTimer);
  // Silently, at four fifths of the access token's lifetime.
  refreshTimer = setTimeout(() => refresh(), answer.expires_in * 800);
}

function forget() {
  accessToken = null;
  csrfToken = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  signedIn(false);
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
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken || "" },
  });
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const response = await fetch("/auth/login", {
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
  keep(await response.json());
  signedIn(true);
  say("Signed in.");
  await loadProfile();
}

async function refresh() {
  const response = await withCookie("/auth/refresh");
  if (!response.ok) {
    forget();
    say(`Session ended (${await describe(response)}); sign in again.`);
    return false;
  }
  keep(await response.json());
  refreshes += 1;
  byId("refreshes").textContent = String(refreshes);
  return true;
}

async function loadProfile(retry = true) {
  if (accessToken === null) return;
  const response = await fetch("/api/profile", {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
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
  forget();
  say(response.ok ? "Signed out." : `Sign-out failed: ${await describe(response)}`);
}

async function refreshNow() {
  if (await refresh()) {
    await loadProfile();
    say("Refreshed.");
  }
}

byId("login").addEventListener("submit", login);
byId("refresh").addEventListener("click", refreshNow);
byId("reload-profile").addEventListener("click", () => loadProfile());
byId("sign-out").addEventListener("click", logout);
