// Real-browser end-to-end check of the example app's <passage-auth> page (run by tests/browser.sh):
// headless Chromium with a virtual WebAuthn authenticator (CDP) drives the real
// @passageidentity/passage-elements 2.0.9 element against passage-server:
//   a. registers a new user with a passkey (Register toggle, email, "Register with passkey");
//   b. signs out (the page's #sign-out; the old refresh token must no longer refresh);
//   c. signs in again with the passkey: by email (the element's own path in Chromium today), then
//      discoverable, through the element's conditional UI (see conditionalUiShim for why a shim);
//   d. signs out;
//   e. signs in as the demo user (no passkey) with the magic link from the dev mailbox, adds the
//      passkey the element then offers, and removes it again (so the check can run again).
//
//   node tests/browser/passkey.mjs http://localhost:PORT [--deployed]   (CHROMIUM=/path overrides /usr/bin/chromium)
//
// --deployed: the app runs against a production-mode passage-server (no development routes, no
// mailbox): the page must offer no development shortcut, signing out must stay on the app, and
// only steps a–d run (magic links need the development mailbox).
//
// Every run: the browser may reach nothing but the app and its Passage server on this machine —
// every other request (a CDN, Google's locale storage, …) is blocked and fails the run; and the
// page must show its signed-in state (who, a sign-out; the element hidden) after each sign-in.
//
// The URL must use a host name (localhost), not an IP address: WebAuthn refuses IPs as RP id.
// Screenshots of the main states go to target/browser/ (registered, signed-out, signed-in,
// signed-in-discoverable, magic-link-sent, magic-link .png), with console.log (browser console,
// page errors, API requests, failed and non-2xx responses); on failure also failure.png,
// failure-dom.html (the page with the element's shadow DOM inlined) and failure-shadow.txt (the
// element's visible text, #me, #profile). Every step is bounded (20 s), the whole run too (180 s).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const STEP_MS = 30_000; // the bound on every step
const ACTION_MS = 15_000; // the bound on every wait inside a step (so its own error, not the step's, is shown)
const TOTAL_MS = 240_000; // the bound on the whole run

const base = (process.argv[2] ?? '').replace(/\/+$/, '');
const deployed = process.argv.includes('--deployed');
if (!/^https?:\/\/localhost(:\d+)?$/.test(base)) {
  console.error('usage: node passkey.mjs http://localhost:PORT (a host name, not an IP: WebAuthn needs one)');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.env.BROWSER_OUT ?? path.join(here, '..', '..', 'target', 'browser'));
fs.mkdirSync(out, { recursive: true });
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const started = Date.now();
const log = []; // console messages, page errors, failed/non-2xx requests
const offsite = []; // requests to anywhere but this machine (blocked)
const stamp = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
let browser;
let page;
let currentStep = 'start-up';

/** Runs one step, bounded by STEP_MS, and prints one line for it. */
async function step(name, fn) {
  currentStep = name;
  const t0 = Date.now();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_MS / 1000} s`)), STEP_MS);
  });
  try {
    const detail = await Promise.race([fn(), timeout]);
    const shown = typeof detail === 'string' ? detail : JSON.stringify(detail);
    console.log(`ok   ${name}${detail ? `: ${shown}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return detail;
  } finally {
    clearTimeout(timer);
  }
}

/** Where the check fails: a screenshot, the DOM with the element's shadow DOM, the console log. */
async function saveFailure(err) {
  console.error(`FAIL ${currentStep}: ${err?.stack ?? err}`);
  const saved = [];
  const bounded = (promise) =>
    Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 10_000))]);
  if (page) {
    try {
      await bounded(page.screenshot({ path: path.join(out, 'failure.png'), fullPage: true }));
      saved.push('failure.png');
    } catch (e) {
      console.error(`(no screenshot: ${e.message})`);
    }
    try {
      const { html, shadow } = await bounded(page.evaluate(serializeDom));
      fs.writeFileSync(path.join(out, 'failure-dom.html'), html);
      fs.writeFileSync(path.join(out, 'failure-shadow.txt'), shadow);
      saved.push('failure-dom.html', 'failure-shadow.txt');
    } catch (e) {
      console.error(`(no DOM: ${e.message})`);
    }
  }
  fs.writeFileSync(path.join(out, 'console.log'), log.join('\n') + '\n');
  saved.push('console.log');
  console.error(`saved ${saved.map((f) => path.join(out, f)).join(', ')}`);
  const tail = log.slice(-15);
  if (tail.length) console.error(`last browser log lines:\n  ${tail.join('\n  ')}`);
}

/** In the page: the document with every open shadow root inlined (<template shadowroot>), and the
 * visible text of each <passage-*> element's shadow root. */
function serializeDom() {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const walk = (node) => {
    let s = '';
    for (const child of node.childNodes) {
      if (child.nodeType === Node.ELEMENT_NODE) {
        const tag = child.localName;
        const attrs = [...child.attributes].map((a) => ` ${a.name}="${esc(a.value).replace(/"/g, '&quot;')}"`).join('');
        s += `<${tag}${attrs}>`;
        if (child.shadowRoot) s += `<template shadowrootmode="open">${walk(child.shadowRoot)}</template>`;
        if (tag === 'style') s += '/* … */';
        else s += walk(tag === 'template' ? child.content : child);
        s += `</${tag}>`;
      } else if (child.nodeType === Node.TEXT_NODE) {
        s += node.localName === 'script' ? child.textContent : esc(child.textContent);
      }
    }
    return s;
  };
  const shadow = [...document.querySelectorAll('*')]
    .filter((el) => el.localName.startsWith('passage-') && el.shadowRoot)
    .map((el) => `<${el.localName}> ${[...el.attributes].map((a) => `${a.name}=${a.value}`).join(' ')}\n${
      [...el.shadowRoot.children]
        .filter((c) => !['style', 'link', 'script'].includes(c.localName))
        .map((c) => c.innerText ?? '').join('\n').trim()}`)
    .join('\n\n');
  return {
    html: `<!-- ${location.href} -->\n<html>${walk(document.documentElement)}</html>\n`,
    shadow: `${location.href}\n\n${shadow || '(no <passage-*> element with a shadow root)'}\n\n#me: ${
      document.querySelector('#me')?.textContent}\n#profile: ${document.querySelector('#profile')?.textContent}\n`,
  };
}

async function shot(name) {
  await page.screenshot({ path: path.join(out, name), fullPage: true });
}

/** The element's part matching a data-testid that is visible now (the element keeps hidden twins). */
const byTestId = (id) => page.getByTestId(id).filter({ visible: true });

/** Waits until `#sel` shows `STATUS …` with the given status (polling, so a navigation in between, as
 * the page's sign-out may do, is fine); returns the parsed body (or its text). */
async function waitStatus(sel, status) {
  const deadline = Date.now() + ACTION_MS;
  let text = '(not read yet)';
  for (;;) {
    try {
      text = (await page.locator(sel).textContent({ timeout: 1_000 }))?.trim() ?? '';
    } catch (e) {
      text = `(unreadable: ${e.message.split('\n')[0]})`;
    }
    if (text === `${status}` || text.startsWith(`${status} `)) break;
    if (Date.now() > deadline) throw new Error(`${sel} never showed ${status}; it shows ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const body = text.slice(String(status).length).trim();
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** Types an identifier into the element's visible form and continues. When the element greets a
 * returning user ("Welcome back! Sign in as …", from localStorage.psg_last_login), continues as that
 * user if it is the same one, or first clicks "Use another account." */
async function submitIdentifier(email) {
  const input = byTestId('identifier-input');
  const welcome = page.locator('passage-auth .identifier-text').filter({ visible: true });
  await input.or(welcome).first().waitFor({ state: 'visible' });
  if (await welcome.isVisible()) {
    if ((await welcome.textContent()).trim().toLowerCase() === email.toLowerCase()) {
      await byTestId('continue-button').click();
      return;
    }
    await page.locator('passage-auth .identifier-form [data-testid="register-link"]').filter({ visible: true }).click();
  }
  await input.waitFor({ state: 'visible' });
  await input.fill(email);
  await byTestId('continue-button').click();
}

async function credentials(cdp, authenticatorId) {
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  return credentials.map(({ privateKey, ...rest }) => rest);
}

/** Flag read by the init script below (per tab, survives reloads and same-origin navigations). */
const CONDITIONAL_FLAG = 'e2e-conditional-ui';

/**
 * passage-elements 2.0.9 never starts its conditional UI (passkey autofill) in browsers that have
 * PublicKeyCredential.getClientCapabilities (Chromium 133+): passage-js reads the capability
 * `conditionalMediation`, but browsers report `conditionalGet` (WebAuthn L3), so conditionalUI stays
 * false. For the discoverable sign-in step only, this init script reports `conditionalMediation`
 * too, which is what the element would see if it read the right key.
 */
function conditionalUiShim(flag) {
  if (sessionStorage.getItem(flag) !== '1' || !window.PublicKeyCredential?.getClientCapabilities) return;
  const original = PublicKeyCredential.getClientCapabilities.bind(PublicKeyCredential);
  PublicKeyCredential.getClientCapabilities = async () => {
    const capabilities = await original();
    return { ...capabilities, conditionalMediation: capabilities.conditionalGet };
  };
}

/** A browser context (its own storage: another "browser" to the server) in which nothing leaves
 * the machine: the page, the element and its assets come from loopback. */
async function newContext() {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  context.setDefaultTimeout(ACTION_MS);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return route.continue();
    offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  return context;
}

async function main() {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: STEP_MS,
    // root in a container has no user namespace for the sandbox
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await newContext();
  await context.addInitScript(conditionalUiShim, CONDITIONAL_FLAG);
  page = await context.newPage();
  page.on('console', (m) => log.push(`[${stamp()}] console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${stamp()}] pageerror: ${e.stack ?? e}`));
  page.on('requestfailed', (r) => log.push(`[${stamp()}] request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log.push(`[${stamp()}] ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('request', (r) => {
    if (r.url().includes('/v1/apps/') || r.url().includes('psg_magic_link') || r.url().includes('/__emulator/')) {
      log.push(`[${stamp()}] request ${r.method()} ${r.url()}${r.postData() ? ` ${r.postData().slice(0, 200)}` : ''}`);
    }
  });

  const cdp = await context.newCDPSession(page);
  const authenticatorId = await step('virtual authenticator (ctap2, internal, resident keys, UV)', async () => {
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    return authenticatorId;
  });

  const { authUrl, appId } = await step('load the page', async () => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    const shortcut = await page.locator('#sign-in').count();
    const html = await page.content();
    if (deployed && (shortcut || html.includes('__emulator'))) {
      throw new Error('against a deployed server the page offers development routes');
    }
    if (!deployed && !shortcut) throw new Error('on the embedded development server the page has no development shortcut');
    await page.locator('passage-auth').waitFor({ state: 'attached' });
    const info = await page.evaluate(() => ({
      authUrl: document.body.dataset.authUrl?.replace(/\/+$/, ''),
      appId: document.querySelector('passage-auth')?.getAttribute('app-id'),
    }));
    if (!info.authUrl || !info.appId) throw new Error(`the page lacks data-auth-url or app-id: ${JSON.stringify(info)}`);
    await waitStatus('#me', 401);
    // the element shows its form once its UI strings and the app's settings have loaded
    await byTestId('identifier-input').waitFor({ state: 'visible' });
    return info;
  });
  const api = (p) => `${authUrl}/v1/apps/${encodeURIComponent(appId)}${p}`;
  /** A call from the page (the auth server allows the page's origin), so the browser's view. */
  const call = (url, init) =>
    page.evaluate(
      async ([url, init]) => {
        const r = await fetch(url, init);
        const text = await r.text();
        let body = text;
        try {
          body = JSON.parse(text);
        } catch {}
        return { status: r.status, body };
      },
      [url, init ?? {}],
    );
  const mailbox = async () => {
    const r = await call(`${authUrl}/__passage/mailbox`);
    if (r.status !== 200 || !Array.isArray(r.body?.messages)) {
      throw new Error(`GET ${authUrl}/__passage/mailbox: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r.body.messages;
  };

  /** #me shows 200 for `userId`, #profile 200 with `email`; the page shows who is signed in and
   * a sign-out, and no longer the element (which would sit on its last screen). */
  async function signedInAs(userId, email) {
    const me = await waitStatus('#me', 200);
    if (me?.user_id !== userId) throw new Error(`#me shows ${JSON.stringify(me)}, expected user_id ${userId}`);
    const profile = await waitStatus('#profile', 200);
    if (profile?.email !== email) throw new Error(`#profile shows ${JSON.stringify(profile)}, expected email ${email}`);
    await page.locator('#signed-in').waitFor({ state: 'visible' });
    const who = (await page.locator('#who').textContent())?.trim();
    if (who !== userId) throw new Error(`the signed-in state names ${JSON.stringify(who)}, expected ${userId}`);
    if (await page.locator('passage-auth').isVisible()) throw new Error('signed in, the page still shows the element');
    await page.locator('#sign-out').waitFor({ state: 'visible' });
  }

  /** Clicks the page's #sign-out; #me must then show 401, and the refresh token the element held
   * must no longer refresh (the page revokes it with DELETE /tokens). */
  async function signOut() {
    const refreshToken = await page.evaluate(() => localStorage.getItem('psg_refresh_token'));
    if (!refreshToken) throw new Error('signed in, the element stored no psg_refresh_token to revoke');
    await page.locator('#sign-out').click();
    const me = await waitStatus('#me', 401);
    if (new URL(page.url()).origin !== base) throw new Error(`signing out left the app: the page is at ${page.url()}`);
    // the element is back, at its first screen (or greeting the last user)
    await byTestId('identifier-input')
      .or(page.locator('passage-auth .identifier-text').filter({ visible: true }))
      .first()
      .waitFor({ state: 'visible' });
    let revoked;
    {
      const r = await call(api('/tokens'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
      if (r.status >= 200 && r.status < 300) {
        throw new Error(`after sign-out the old refresh token still refreshes: POST /tokens → ${r.status}`);
      }
      revoked = `old refresh token refused (${r.status})`;
    }
    const stored = await page.evaluate(() => localStorage.getItem('psg_auth_token'));
    if (stored) throw new Error('after sign-out localStorage still holds psg_auth_token');
    return `#me 401 ${typeof me === 'string' ? me : JSON.stringify(me)}`.slice(0, 80) + `; ${revoked}`;
  }

  async function oneResidentPasskey(userId) {
    const creds = await credentials(cdp, authenticatorId);
    const resident = creds.filter((c) => c.isResidentCredential && c.rpId === 'localhost');
    if (creds.length !== 1 || resident.length !== 1) {
      throw new Error(`expected exactly one resident credential for rpId localhost, got ${JSON.stringify(creds)}`);
    }
    return resident[0];
  }

  // a. a new user registers with a passkey
  const email = `alice+${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
  const userId = await step(`register ${email} with a passkey`, async () => {
    // the "Sign up here." toggle below the form
    await page.locator('passage-auth div.link [data-testid="register-link"]').filter({ visible: true }).click();
    await submitIdentifier(email);
    // the RegisterDevice view: the user clicks "Register with passkey"
    await byTestId('register-main-button').click();
    const me = await waitStatus('#me', 200);
    if (!me?.user_id) throw new Error(`#me shows no user_id: ${JSON.stringify(me)}`);
    const lookup = await call(api(`/users?identifier=${encodeURIComponent(email)}`));
    if (lookup.status !== 200 || lookup.body?.user?.id !== me.user_id) {
      throw new Error(`#me shows ${me.user_id} but GET /users?identifier= gives ${lookup.status} ${JSON.stringify(lookup.body)}`);
    }
    await signedInAs(me.user_id, email);
    await shot('registered.png');
    return me.user_id;
  });
  await step('the authenticator holds one resident passkey for localhost', async () => {
    const c = await oneResidentPasskey(userId);
    const handle = Buffer.from(c.userHandle ?? '', 'base64').toString('base64url');
    return `credential ${c.credentialId.slice(0, 12)}…, user handle ${handle.slice(0, 12)}…, sign count ${c.signCount}`;
  });

  // b. sign out
  await step('sign out', async () => {
    const detail = await signOut();
    await shot('signed-out.png');
    return detail;
  });

  // c. sign in again with the passkey, first as the element does it in Chromium today (email, then
  // WebAuthn with allowCredentials), then discoverable (conditional UI, no email; see the shim above)
  let signCount = 1;
  await step('sign in with the passkey: email, Continue, WebAuthn', async () => {
    await page.reload({ waitUntil: 'load' });
    await waitStatus('#me', 401);
    await submitIdentifier(email);
    await signedInAs(userId, email);
    await shot('signed-in.png');
    const c = await oneResidentPasskey(userId);
    if (c.signCount <= signCount) throw new Error(`sign count ${c.signCount}: the sign-in did not use the passkey`);
    signCount = c.signCount;
    return `#me 200 ${userId}; one resident passkey, sign count ${c.signCount}`;
  });
  await step('sign out', signOut);
  await step('sign in with the passkey: discoverable (conditional UI, no email typed)', async () => {
    await page.evaluate((flag) => sessionStorage.setItem(flag, '1'), CONDITIONAL_FLAG);
    const start = page.waitForRequest((r) => r.url().endsWith('/login/webauthn/start') && r.postData() === '{}');
    await page.reload({ waitUntil: 'load' });
    await start; // the element's conditional-UI request: the authenticator answers it with the resident key
    await signedInAs(userId, email);
    // Without the shim again (it patched this page at load): a fresh element after the sign-out
    // below must not start the conditional UI, which this authenticator would answer at once.
    await page.evaluate((flag) => sessionStorage.removeItem(flag), CONDITIONAL_FLAG);
    await page.reload({ waitUntil: 'load' });
    await signedInAs(userId, email);
    await shot('signed-in-discoverable.png');
    const c = await oneResidentPasskey(userId);
    if (c.signCount <= signCount) throw new Error(`sign count ${c.signCount}: the sign-in did not use the passkey`);
    signCount = c.signCount;
    return `#me 200 ${userId}; one resident passkey, sign count ${c.signCount}`;
  });

  // d. sign out again
  await step('sign out', signOut);
  if (deployed) {
    return `against a deployed passage-server: ${email} registered with a passkey and signed in with it again (email, then discoverable), each signed out on the app's page`;
  }

  // e. the demo user (no passkey) signs in with a magic link from the dev mailbox
  const demo = { id: 'demo-user', email: 'demo@example.com' };
  /** The page asks for the demo user's link; the newest one mailed after that. */
  async function askForLink() {
    const seen = (await mailbox()).length;
    await page.reload({ waitUntil: 'load' });
    await waitStatus('#me', 401);
    await submitIdentifier(demo.email);
    for (;;) {
      const mail = (await mailbox()).slice(seen).filter((m) => m.to?.includes(demo.email)).pop();
      if (mail?.link) return mail.link;
      await page.waitForTimeout(200);
    }
  }
  await step('a magic link opened in another browser signs that browser in, not the page that asked', async () => {
    const link = await askForLink();
    const other = await newContext();
    try {
      const elsewhere = await other.newPage();
      await elsewhere.goto(link, { waitUntil: 'load' });
      // No authenticator there: the element skips the passkey offer and signs in.
      const deadline = Date.now() + ACTION_MS;
      let me = '';
      while (!me.startsWith('200') && Date.now() < deadline) {
        me = (await elsewhere.locator('#me').textContent())?.trim() ?? '';
        await elsewhere.waitForTimeout(200);
      }
      if (!me.startsWith('200')) throw new Error(`the browser that opened the link shows ${me}`);
    } finally {
      await other.close();
    }
    // The element polls every 5 s: two polls, and the page that asked must still be signed out.
    await page.waitForTimeout(11_000);
    const me = (await page.locator('#me').textContent())?.trim() ?? '';
    if (!me.startsWith('401')) throw new Error(`the page that asked was signed in by a link opened elsewhere: ${me}`);
    return 'the other browser is signed in; the waiting page still shows 401 after two polls';
  });
  await step('the control: opened in the same browser (another tab), the waiting page signs in', async () => {
    const link = await askForLink();
    const tab = await page.context().newPage();
    try {
      await tab.goto(link, { waitUntil: 'load' });
      // The waiting page's element polls every 5 s; once signed in it offers a passkey (this
      // page has an authenticator): skip it, then the page shows the user.
      await page.getByTestId('add-device-skip').filter({ visible: true }).click({ timeout: 12_000 });
      await signedInAs(demo.id, demo.email);
    } finally {
      await tab.close();
    }
    return 'the waiting page signed in by its status poll';
  });
  await step('sign out', signOut);
  const link = await step(`magic link for ${demo.email}`, async () => {
    const lookup = await call(api(`/users?identifier=${encodeURIComponent(demo.email)}`));
    if (lookup.body?.user?.id !== demo.id || lookup.body.user.webauthn) {
      throw new Error(`expected ${demo.id} without passkeys (as a fresh server seeds it): GET /users?identifier= → ${JSON.stringify(lookup.body)}`);
    }
    const seen = (await mailbox()).length;
    await page.reload({ waitUntil: 'load' });
    await waitStatus('#me', 401);
    await submitIdentifier(demo.email);
    for (;;) {
      const mail = (await mailbox()).slice(seen).filter((m) => m.to?.includes(demo.email)).pop();
      if (mail?.link) {
        await byTestId('identifier-input').or(page.locator('passage-auth .title')).first().waitFor();
        await shot('magic-link-sent.png');
        return mail.link;
      }
      await page.waitForTimeout(200);
    }
  });
  await step('open the magic link; then add a passkey when the element offers one', async () => {
    const url = new URL(link);
    if (url.origin !== base) throw new Error(`the link ${link} does not lead to the app's origin ${base}`);
    if (!url.searchParams.has('psg_magic_link')) throw new Error(`the link ${link} has no psg_magic_link parameter`);
    await page.goto(link, { waitUntil: 'load' });
    // After activation the element offers "Add a passkey" (a platform authenticator is there). Adding
    // one exercises /currentuser/devices/start|finish.
    await byTestId('save-device-button').click();
    await signedInAs(demo.id, demo.email);
    await shot('magic-link.png');
    const creds = (await credentials(cdp, authenticatorId)).filter((c) => c.rpId === 'localhost');
    if (creds.length !== 2) throw new Error(`expected 2 credentials for localhost (alice's, demo's), got ${JSON.stringify(creds)}`);
    const lookup = await call(api(`/users?identifier=${encodeURIComponent(demo.email)}`));
    if (!lookup.body?.user?.webauthn) throw new Error(`GET /users?identifier=${demo.email}: ${JSON.stringify(lookup.body)}`);
    return `#me 200 ${demo.id}; passkey added, webauthn_types ${JSON.stringify(lookup.body.user.webauthn_types)}`;
  });
  // Leave the demo user as found (no passkey), so the check can run again on the same server.
  await step("remove the demo user's new passkey (GET, DELETE /currentuser/devices)", async () => {
    const token = await page.evaluate(() => localStorage.getItem('psg_auth_token'));
    if (!token) throw new Error('the element stored no psg_auth_token');
    const auth = { headers: { Authorization: `Bearer ${token}` } };
    const listed = await call(api('/currentuser/devices'), auth);
    const devices = listed.body?.devices;
    if (listed.status !== 200 || !Array.isArray(devices) || devices.length !== 1) {
      throw new Error(`GET /currentuser/devices: ${listed.status} ${JSON.stringify(listed.body)} (expected one device)`);
    }
    const removed = await call(api(`/currentuser/devices/${encodeURIComponent(devices[0].id)}`), { ...auth, method: 'DELETE' });
    if (removed.status !== 200) throw new Error(`DELETE /currentuser/devices/${devices[0].id}: ${removed.status} ${JSON.stringify(removed.body)}`);
    const lookup = await call(api(`/users?identifier=${encodeURIComponent(demo.email)}`));
    if (lookup.body?.user?.webauthn !== false) throw new Error(`after removal: ${JSON.stringify(lookup.body)}`);
    return `device ${devices[0].id} (${devices[0].friendly_name ?? 'no name'}) removed`;
  });
  await step('sign out', signOut);

  return `${email} registered with a passkey and signed in with it again (email, then discoverable), demo-user signed in with a magic link and added a passkey (removed again), each signed out`;
}

const watchdog = setTimeout(async () => {
  await saveFailure(new Error(`the whole run took more than ${TOTAL_MS / 1000} s`));
  process.exit(1);
}, TOTAL_MS);

try {
  const summary = await main();
  if (offsite.length) throw new Error(`the page reached beyond this machine: ${[...new Set(offsite)].join(', ')}`);
  fs.writeFileSync(path.join(out, 'console.log'), log.join('\n') + '\n');
  console.log(`browser passkey check ok: ${summary} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exitCode = 0;
} catch (err) {
  await saveFailure(err);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 5_000))]).catch(() => {});
}
process.exit(process.exitCode);
