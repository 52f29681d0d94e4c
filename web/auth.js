// Sign-in with OpenID Connect: the authorization code flow with PKCE, for a
// page that keeps no secret (RFC 7636, and OAuth 2.0 for browser-based
// apps: no implicit flow). The tokens live in sessionStorage: they end with
// the tab, and are refreshed before they expire.

const SESSION_KEY = 'chat.session';
const PENDING_KEY = 'chat.signin';
const REFRESH_BEFORE = 60 * 1000; // refresh a token this long before it expires

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(n = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT, read without verifying it (the server verifies). */
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** The display name the server takes from a token's claims. */
export function nameOf(token) {
  const c = claimsOf(token);
  return c.name || c.preferred_username || c['cognito:username'] || c.email || '';
}

/** Where the issuer sends the browser back: this page, without query or hash. */
function redirectURI() {
  return location.origin + location.pathname;
}

export class Session extends EventTarget {
  #cfg;
  #discovery = null;
  #tokens = null; // {idToken, refreshToken, expiresAt}
  #refreshTimer = 0;

  /** @param {{issuer: string, clientId: string}} cfg from config.json's auth */
  constructor(cfg) {
    super();
    this.#cfg = cfg;
    try {
      this.#tokens = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    } catch { this.#tokens = null; }
    this.#schedule();
  }

  get signedIn() { return !!this.#tokens; }
  get name() { return this.#tokens ? nameOf(this.#tokens.idToken) : ''; }

  async #endpoints() {
    if (!this.#discovery) {
      const res = await fetch(`${this.#cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
      if (!res.ok) throw new Error(`the issuer's discovery answered ${res.status}`);
      this.#discovery = await res.json();
    }
    return this.#discovery;
  }

  /** Sends the browser to the issuer's sign-in page. */
  async signIn() {
    const d = await this.#endpoints();
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, hash: location.hash }));
    const u = new URL(d.authorization_endpoint);
    u.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.#cfg.clientId,
      redirect_uri: redirectURI(),
      scope: 'openid profile',
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: 'S256',
    }).toString();
    location.assign(u.toString());
  }

  /**
   * Finishes a sign-in when the issuer sent the browser back here with a
   * code; returns whether it did. The code and state leave the address bar.
   */
  async completeSignIn() {
    const params = new URLSearchParams(location.search);
    const code = params.get('code');
    if (!code && !params.get('error')) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    sessionStorage.removeItem(PENDING_KEY);
    history.replaceState(null, '', redirectURI() + (pending?.hash || ''));
    if (params.get('error')) throw new Error(`sign-in failed: ${params.get('error_description') || params.get('error')}`);
    if (!pending || params.get('state') !== pending.state) throw new Error('sign-in failed: the state does not match');
    await this.#token({
      grant_type: 'authorization_code', code, redirect_uri: redirectURI(), code_verifier: pending.verifier,
    });
    return true;
  }

  /** A valid ID token, refreshed first if it is about to expire; '' if signed out. */
  async token() {
    if (!this.#tokens) return '';
    if (this.#tokens.expiresAt - Date.now() < REFRESH_BEFORE) await this.refresh();
    return this.#tokens ? this.#tokens.idToken : '';
  }

  /** Refreshes the tokens; a refused refresh signs out. */
  async refresh() {
    if (!this.#tokens?.refreshToken) {
      this.signOut();
      return;
    }
    try {
      await this.#token({ grant_type: 'refresh_token', refresh_token: this.#tokens.refreshToken });
    } catch (err) {
      this.signOut();
      throw err;
    }
  }

  signOut() {
    this.#tokens = null;
    sessionStorage.removeItem(SESSION_KEY);
    clearTimeout(this.#refreshTimer);
    this.dispatchEvent(new CustomEvent('signedout'));
  }

  async #token(fields) {
    const d = await this.#endpoints();
    const res = await fetch(d.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.#cfg.clientId, ...fields }).toString(),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || typeof body.id_token !== 'string') {
      throw new Error(`the issuer refused the token request: ${body.error_description || body.error || res.status}`);
    }
    const exp = claimsOf(body.id_token).exp;
    this.#tokens = {
      idToken: body.id_token,
      // Cognito does not rotate refresh tokens: keep the old one then.
      refreshToken: body.refresh_token || this.#tokens?.refreshToken || '',
      expiresAt: Number.isFinite(exp) ? exp * 1000 : Date.now() + (body.expires_in || 300) * 1000,
    };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.#tokens));
    this.#schedule();
    this.dispatchEvent(new CustomEvent('token'));
  }

  // Refreshes ahead of expiry, so a reconnect always has a valid token.
  #schedule() {
    clearTimeout(this.#refreshTimer);
    if (!this.#tokens) return;
    const wait = Math.max(0, this.#tokens.expiresAt - Date.now() - REFRESH_BEFORE);
    this.#refreshTimer = setTimeout(() => { this.refresh().catch(() => {}); }, wait);
  }
}
