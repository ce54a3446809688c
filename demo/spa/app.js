// The demo SPA. It never holds a token: bff keeps them in a sealed
// HttpOnly cookie, so all this page can do is ask bff who is signed in and
// call the API through bff. Everything shown is set with textContent,
// because claims are strings an attacker may have chosen.
'use strict';

const $ = (id) => document.getElementById(id);

// bff refuses state-reading and proxied requests without this header. A
// custom header cannot be sent cross-site without a CORS preflight, which
// bff never grants, so its presence proves the request came from this page.
const csrf = { 'X-CSRF': '1' };

// Claims that hold seconds since the epoch, shown also as local time.
const timeClaims = new Set(['exp', 'iat', 'nbf', 'auth_time', 'updated_at']);

// silentKey marks a silent sign-in already tried in this tab.
const silentKey = 'bff-demo-silent-sign-in';

let calls = 0;
let expiresAt = null;
let logoutUrl = null;
let lastTokenExpiry = null;

function show(view) {
  for (const id of ['loading', 'signed-out', 'signed-in']) $(id).hidden = id !== view;
}

function setText(id, value) {
  $(id).textContent = value === undefined || value === null || value === '' ? '—' : String(value);
}

function setState(text) {
  setText('state', text);
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

// Only a path on this origin may be navigated to: "//host" and "/\host"
// are read by browsers as other origins.
function isLocalPath(url) {
  return typeof url === 'string' && /^\/(?![/\\])/.test(url);
}

// problemText reads an RFC 9457 body, falling back to the status line.
function problemText(res, body) {
  const text = body && [body.title, body.detail].filter(Boolean).join(': ');
  return text || `HTTP ${res.status} ${res.statusText}`.trim();
}

async function readJSON(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

async function loadSession() {
  let res;
  try {
    res = await fetch('/auth/session', { headers: csrf, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    show(null);
    setState('offline');
    showError(`Cannot reach bff: ${err.message}`);
    return;
  }
  if (res.status === 401) {
    // Signed in at the identity provider already? A silent sign-in
    // (prompt=none) finds out without showing anything: bff comes back
    // here either way, signed in or not. Once per visit, so that a
    // browser with no session at the IdP does not go round in circles.
    if (!sessionStorage.getItem(silentKey)) {
      sessionStorage.setItem(silentKey, '1');
      location.assign('/auth/login?prompt=none&returnTo=' + encodeURIComponent(here()));
      return;
    }
    sessionStorage.removeItem(silentKey);
    show('signed-out');
    setState('signed out');
    return;
  }
  const body = await readJSON(res);
  if (!res.ok || !body) {
    show(null);
    setState('error');
    showError(problemText(res, body));
    return;
  }
  renderSession(body);
}

// here is the page to come back to: this path and query.
function here() {
  const path = location.pathname + location.search;
  return isLocalPath(path) ? path : '/';
}

function renderSession(s) {
  sessionStorage.removeItem(silentKey);
  const c = s.claims && typeof s.claims === 'object' ? s.claims : {};
  setText('name', c.name || c.preferred_username || s.sub);
  setText('email', c.email);
  setText('username', c.preferred_username);
  setText('sub', s.sub);
  expiresAt = s.expiresAt ? new Date(s.expiresAt) : null;
  logoutUrl = isLocalPath(s.logoutUrl) ? s.logoutUrl : null;
  $('logout').disabled = !logoutUrl;
  renderExpiry();
  renderClaims(c);
  show('signed-in');
  setState('signed in');
}

function renderExpiry() {
  if (!expiresAt || Number.isNaN(expiresAt.getTime())) {
    setText('expires', 'unknown');
    return;
  }
  const min = Math.round((expiresAt.getTime() - Date.now()) / 60000);
  const when = min > 0 ? `in ${min} min` : 'now';
  setText('expires', `${expiresAt.toLocaleString()} (${when})`);
}

function renderClaims(claims) {
  const rows = Object.keys(claims).sort().map((name) => {
    const value = claims[name];
    let text = typeof value === 'string' ? value : JSON.stringify(value);
    if (timeClaims.has(name) && typeof value === 'number') {
      text += ` (${new Date(value * 1000).toLocaleString()})`;
    }
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    const td = document.createElement('td');
    td.textContent = text;
    const tr = document.createElement('tr');
    tr.append(th, td);
    return tr;
  });
  $('claims').tBodies[0].replaceChildren(...rows);
}

async function callAPI() {
  const button = $('call-api');
  const summary = $('api-summary');
  button.disabled = true;
  summary.className = '';
  try {
    const res = await fetch('/api/whoami', { headers: csrf, cache: 'no-store' });
    calls++;
    setText('api-count', `${calls} ${calls === 1 ? 'call' : 'calls'}`);
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: show the raw text below.
    }
    const pretty = body === null ? text : JSON.stringify(body, null, 2);
    $('api-result').textContent = `HTTP ${res.status} ${res.statusText}`.trim() + '\n\n' + pretty;

    if (res.ok && body) {
      let line = `The API saw subject ${body.sub}; its access token expires in ${body.expiresIn} s`;
      // A later expiry than last time means bff swapped in a fresh token.
      if (lastTokenExpiry && Date.parse(body.expiresAt) > Date.parse(lastTokenExpiry)) line += ' — bff refreshed it since the last call';
      lastTokenExpiry = body.expiresAt;
      summary.textContent = line;
      summary.className = 'good';
    } else if (res.status === 401) {
      summary.textContent = 'session ended — log in again';
      summary.className = 'bad';
    } else {
      summary.textContent = problemText(res, body);
      summary.className = 'bad';
    }
  } catch (err) {
    summary.textContent = `The request failed: ${err.message}`;
    summary.className = 'bad';
  } finally {
    button.disabled = false;
  }
}

$('login').addEventListener('click', () => location.assign('/auth/login?returnTo=' + encodeURIComponent(here())));
$('logout').addEventListener('click', () => {
  // Signed out on purpose: no silent sign-in on the way back.
  sessionStorage.setItem(silentKey, '1');
  if (logoutUrl) location.assign(logoutUrl);
});
// /account is a page bff protects (BFF_PROTECTED_PATHS=/account): a
// browser only gets here with a session, or through sign-in and back.
$('account').hidden = location.pathname !== '/account';
$('call-api').addEventListener('click', callAPI);
// Keep "in N min" honest while the page stays open.
setInterval(renderExpiry, 30000);
loadSession();
