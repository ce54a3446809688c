// A minimal SPA for the compose example. It never holds a token of its own:
// bff keeps them in an HttpOnly cookie. Every call it makes to bff carries
// X-CSRF: 1, which bff requires on /auth/session and on proxied routes.
'use strict';

const $ = (id) => document.getElementById(id);
const csrf = { 'X-CSRF': '1' };

async function loadSession() {
  const res = await fetch('/auth/session', { headers: csrf });
  if (res.status === 401) {
    $('status').textContent = 'Signed out.';
    $('signed-out').hidden = false;
    $('signed-in').hidden = true;
    return;
  }
  if (!res.ok) {
    $('status').textContent = `bff answered ${res.status}; is Keycloak up yet?`;
    return;
  }
  const session = await res.json();
  $('status').textContent = `Signed in as ${session.claims.preferred_username || session.sub}; the session ends at ${session.expiresAt}.`;
  $('session').textContent = JSON.stringify(session, null, 2);
  // logoutUrl is a path on this origin that carries the session's sid.
  if (typeof session.logoutUrl === 'string' && /^\/(?![/\\])/.test(session.logoutUrl)) {
    $('logout').href = session.logoutUrl;
  }
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
}

async function callAPI() {
  const res = await fetch('/api/whoami', { headers: csrf });
  const text = await res.text();
  $('api').textContent = `HTTP ${res.status}\n\n${text}`;
  if (res.status === 401) {
    await loadSession();
  }
}

$('call').addEventListener('click', () => { callAPI().catch((e) => { $('api').textContent = String(e); }); });
loadSession().catch((e) => { $('status').textContent = String(e); });
