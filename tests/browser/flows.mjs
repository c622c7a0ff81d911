// Real-browser checks of the flows beyond passkeys (run by tests/browser.sh): headless Chromium
// drives the real @passageidentity/passage-elements 2.0.9 elements against a passage-server this
// script starts, on pages this script serves:
//   otp      one-time passcodes: register by email with the code from the development mailbox,
//            a wrong code and the element's error, five wrong codes and its "too many tries",
//            sign in again with a code; register a phone number (typed into the element's
//            intl-tel-input) with the code that reached an SMS webhook receiver started here
//            (its HMAC signature verified against the shared secret).
//   German   a page in German (lang="de-DE"): the element's strings come from the server, the
//            code is mailed in German, and signs in.
//   profile  the app's user fields and <passage-profile>: register with a declared field
//            ("Company", in the element's registration form) and a passkey; in the profile, edit
//            and save the fields, rename the passkey, remove it and add another, change the email
//            (the change is made only once the link mailed to the new address is opened, where
//            <passage-auth> reports it; the old address is told), add a phone number (typed in
//            the profile's phone input; the link goes through the signed SMS webhook). Each
//            change is checked through the Management API.
//
//   PASSAGE_SERVER=/path/to/passage-server ELEMENTS_DIR=…/dist/package node tests/browser/flows.mjs
//   (CHROMIUM=/path overrides /usr/bin/chromium; BROWSER_OUT=dir for screenshots and logs)
//
// The browser reaches nothing but this machine; every other request fails the run. Every step
// is bounded; so is the whole run.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const STEP_MS = 30_000;
const ACTION_MS = 15_000;
const TOTAL_MS = 240_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.env.BROWSER_OUT ?? path.join(here, '..', '..', 'target', 'browser'));
fs.mkdirSync(out, { recursive: true });
const serverBin = process.env.PASSAGE_SERVER;
const elementsDir = process.env.ELEMENTS_DIR;
if (!serverBin || !elementsDir) {
  console.error('usage: PASSAGE_SERVER=… ELEMENTS_DIR=… node tests/browser/flows.mjs');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const started = Date.now();
const log = [];
const offsite = [];
const stamp = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
let browser;
let page;
let currentStep = 'start-up';
const children = [];
const listeners = [];

async function step(name, fn) {
  currentStep = name;
  const t0 = Date.now();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_MS / 1000} s`)), STEP_MS);
  });
  try {
    const detail = await Promise.race([fn(), timeout]);
    console.log(`ok   ${name}${detail ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return detail;
  } finally {
    clearTimeout(timer);
  }
}

/** A free port on 127.0.0.1 (bound, read, released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Serves `handler` on 127.0.0.1:port. */
function serve(port, handler) {
  return new Promise((resolve) => {
    const s = http.createServer(handler);
    listeners.push(s);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** The pages the elements run on (the app's origin). */
function pageHtml(authUrl, appId, element, lang = 'en') {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>passage-server flows</title></head>
<body>
<script src="${authUrl}/passage-fetch.js"></script>
<script type="module" src="${authUrl}/elements/${element}/index.es.js"></script>
<${element} app-id="${appId}" lang="${lang}" default-country-code="us"></${element}>
<p>signed in as: <b id="who">nobody</b></p>
<script>
  // Who the element's stored token names, as the server's /currentuser answers it.
  (async () => {
    const token = localStorage.getItem('psg_auth_token');
    if (!token) return;
    const r = await fetch('${authUrl}/v1/apps/${appId}/currentuser', { headers: { Authorization: 'Bearer ' + token } });
    const body = await r.json().catch(() => ({}));
    document.getElementById('who').textContent = r.ok ? (body.user.email || body.user.phone) : 'refused ' + r.status;
  })();
</script>
</body></html>`;
}

/** Text messages the SMS webhook received, each with whether its signature verified. */
const texts = [];

function verifySignature(secret, header, body) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${m[1]}.`).update(body).digest('hex');
  const fresh = Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
  return fresh && crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(m[2]));
}

async function main() {
  const secret = crypto.randomBytes(32).toString('base64url');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'passage-flows-'));
  const secretFile = path.join(scratch, 'sms-secret');
  fs.writeFileSync(secretFile, secret, { mode: 0o600 });
  const smsPort = await freePort();
  await serve(smsPort, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const verified = verifySignature(secret, req.headers['passage-signature'], body);
      let json = null;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {}
      texts.push({ verified, json, id: req.headers['passage-webhook-id'] });
      res.writeHead(verified ? 200 : 401, { 'content-type': 'application/json' }).end('{}');
    });
  });

  /** Starts a passage-server (`args` beside the common ones) and the app's pages for it (`/`:
   * <passage-auth>, `/profile`: <passage-profile>) on an origin of their own. */
  async function startPassage(name, args) {
    const [pagePort, authPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const origin = `http://localhost:${pagePort}`;
    const authUrl = `http://localhost:${authPort}`;
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const appId = `${name}_app`;
    await serve(pagePort, (req, res) => {
      const url = new URL(req.url, origin);
      const element = url.pathname === '/profile' ? 'passage-profile' : 'passage-auth';
      const lang = /^[a-z]{2}(-[a-z]{2})?$/i.test(url.searchParams.get('lang') ?? '') ? url.searchParams.get('lang') : 'en';
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pageHtml(authUrl, appId, element, lang));
    });
    const serverLog = fs.openSync(path.join(out, `flows-server-${name}.log`), 'w');
    const server = spawn(serverBin, [
      'serve', '--dev', '--app-id', appId, '--auth-origin', origin,
      '--auth-bind', `127.0.0.1:${authPort}`, '--api-bind', `127.0.0.1:${apiPort}`,
      '--public-url', authUrl, '--elements-dir', elementsDir,
      '--sms-webhook-url', `http://127.0.0.1:${smsPort}/sms`, '--sms-webhook-secret-file', secretFile,
      ...args,
    ], { stdio: ['ignore', serverLog, serverLog], env: { ...process.env, RUST_LOG: 'info' } });
    children.push(server);
    await step(`passage-server "${name}" answers`, async () => {
      for (;;) {
        if (server.exitCode !== null) throw new Error(`passage-server exited ${server.exitCode}; see flows-server-${name}.log`);
        try {
          const r = await fetch(`${authUrl}/v1/apps/${appId}`);
          if (r.ok) return `${args.join(' ')}: app info auth_methods ${JSON.stringify((await r.json()).app.auth_methods)}`;
        } catch {}
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    /** A Management API call (development mode's key). */
    const manage = async (method, p, body) => {
      const r = await fetch(`${apiUrl}/v1/apps/${appId}${p}`, {
        method,
        headers: { Authorization: 'Bearer passage_dev_api_key', 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    };
    return { origin, authUrl, appId, manage };
  }

  const codes = await startPassage('codes', ['--auth-methods', 'otp', '--identifiers', 'both']);
  const { origin, authUrl } = codes;
  const fieldsFile = path.join(scratch, 'user-fields.json');
  fs.writeFileSync(fieldsFile, JSON.stringify({
    user_metadata_schema: [
      { id: 'f-company', field_name: 'company', friendly_name: 'Company', type: 'string', registration: true, profile: true },
      { id: 'f-seats', field_name: 'seats', friendly_name: 'Seats', type: 'integer', registration: false, profile: true },
    ],
  }));
  const profile = await startPassage('profile', [
    '--auth-methods', 'passkeys,otp', '--identifiers', 'both', '--user-fields', fieldsFile,
  ]);

  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  context.setDefaultTimeout(ACTION_MS);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return route.continue();
    offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  page = await context.newPage();
  page.on('console', (m) => log.push(`[${stamp()}] console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${stamp()}] pageerror: ${e.stack ?? e}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log.push(`[${stamp()}] ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('request', (r) => {
    if (r.url().includes('/v1/apps/')) log.push(`[${stamp()}] request ${r.method()} ${r.url()}`);
  });

  const byTestId = (id) => page.getByTestId(id).filter({ visible: true });
  const mailbox = async (srv = codes) => (await (await fetch(`${srv.authUrl}/__passage/mailbox`)).json()).messages;
  /** The newest message to `to` after `seen` messages, waited for. */
  const newMail = async (seen, to, srv = codes) => {
    const deadline = Date.now() + ACTION_MS;
    for (;;) {
      const mail = (await mailbox(srv)).slice(seen).filter((m) => m.to === to).pop();
      if (mail) return mail;
      if (Date.now() > deadline) throw new Error(`no message to ${to}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const newText = async (seen, to) => {
    const deadline = Date.now() + ACTION_MS;
    for (;;) {
      const text = texts.slice(seen).filter((t) => t.json?.to === to).pop();
      if (text) return text;
      if (Date.now() > deadline) throw new Error(`no text message to ${to}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Types `code` into the element's six code inputs (as a person types, digit by digit). */
  const typeCode = async (code) => {
    const first = page.getByTestId('otp-single-input-0');
    await first.waitFor({ state: 'visible' });
    // Empty the six inputs first, last to first: the element submits whenever all six are
    // filled and change, so typing over a full code would submit half-old codes.
    for (let i = 5; i >= 0; i--) {
      const input = page.getByTestId(`otp-single-input-${i}`);
      if (await input.inputValue()) {
        await input.click();
        await page.keyboard.press('Backspace');
      }
    }
    const left = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => page.getByTestId(`otp-single-input-${i}`).inputValue()));
    if (left.join('')) throw new Error(`the code inputs still hold ${JSON.stringify(left)}`);
    await first.click();
    await page.keyboard.type(code, { delay: 30 });
  };
  const who = async (expected) => {
    const deadline = Date.now() + ACTION_MS;
    let text = '';
    while (Date.now() < deadline) {
      text = (await page.locator('#who').textContent())?.trim() ?? '';
      if (text === expected) return text;
      await page.waitForTimeout(100);
    }
    throw new Error(`the page shows signed in as ${JSON.stringify(text)}, expected ${expected}`);
  };
  const errorShown = async (message) => {
    await page.locator('passage-auth').getByText(message).filter({ visible: true }).first().waitFor({ state: 'visible' });
  };
  const signOut = async () => {
    await page.evaluate(() => {
      localStorage.clear();
      document.cookie = 'psg_auth_token=; Max-Age=0; path=/';
    });
  };

  const email = `otp+${Date.now().toString(36)}@example.com`;
  await step(`register ${email} with a one-time passcode from the mailbox`, async () => {
    await page.goto(`${origin}/`, { waitUntil: 'load' });
    await page.locator('passage-auth div.link [data-testid="register-link"]').filter({ visible: true }).click();
    const seen = (await mailbox()).length;
    await byTestId('identifier-input').fill(email);
    await byTestId('continue-button').click();
    const mail = await newMail(seen, email);
    if (!/^\d{6}$/.test(mail.code)) throw new Error(`the mail carries no 6-digit code: ${JSON.stringify(mail)}`);
    await typeCode(mail.code);
    await who(email);
    await page.screenshot({ path: path.join(out, 'flows-otp-registered.png'), fullPage: true });
    return `code ${mail.code.slice(0, 2)}…; signed in`;
  });
  await signOut();

  await step('a wrong code shows the element\'s error; five kill the code ("too many tries")', async () => {
    await page.goto(`${origin}/`, { waitUntil: 'load' });
    const seen = (await mailbox()).length;
    await byTestId('identifier-input').fill(email);
    await byTestId('continue-button').click();
    const mail = await newMail(seen, email);
    // Each try differs from the last (the element submits when the six digits change).
    const wrongCode = (i) => String((Number(mail.code) + i) % 1_000_000).padStart(6, '0');
    await typeCode(wrongCode(1));
    await errorShown('That code is wrong or no longer valid.');
    for (let i = 2; i <= 5; i++) {
      const answered = page.waitForResponse((r) => r.url().endsWith('/otp/activate'));
      await typeCode(wrongCode(i));
      const status = (await answered).status();
      if (status !== (i < 5 ? 400 : 401)) throw new Error(`wrong code ${i}: ${status}`);
    }
    await errorShown('Too many tries. Ask for a new code.');
    const answered = page.waitForResponse((r) => r.url().endsWith('/otp/activate'));
    await typeCode(mail.code);
    if ((await answered).status() !== 401) throw new Error('the right digits of a dead code were not refused with 401');
    await errorShown('Too many tries. Ask for a new code.');
    if ((await page.locator('#who').textContent()).trim() !== 'nobody') throw new Error('a dead code signed in');
    await page.screenshot({ path: path.join(out, 'flows-otp-too-many.png'), fullPage: true });
    // "Resend code": a new code, which signs in.
    const again = (await mailbox()).length;
    await byTestId('one-time-passcode-resend-button').click();
    const fresh = await newMail(again, email);
    await typeCode(fresh.code);
    await who(email);
    return 'wrong → "wrong or no longer valid"; fifth → "too many tries"; right code of a dead code refused; resent code signs in';
  });
  await signOut();

  const phone = '+14155552671';
  await step(`register ${phone} with a code sent through the signed SMS webhook`, async () => {
    await page.goto(`${origin}/`, { waitUntil: 'load' });
    await page.locator('passage-auth div.link [data-testid="register-link"]').filter({ visible: true }).click();
    const seen = texts.length;
    const input = byTestId('identifier-input');
    await input.click();
    await page.keyboard.type('+1 415 555 2671', { delay: 20 });
    await byTestId('continue-button').click();
    const text = await newText(seen, phone);
    if (!text.verified) throw new Error('the webhook request\'s signature did not verify');
    if (text.json.type !== 'one_time_passcode' || !/^\d{6}$/.test(text.json.code) || !text.json.text.includes(text.json.code)) {
      throw new Error(`unexpected webhook body ${JSON.stringify({ ...text.json, code: '…' })}`);
    }
    await typeCode(text.json.code);
    await who(phone);
    await page.screenshot({ path: path.join(out, 'flows-otp-phone.png'), fullPage: true });
    return `webhook body signed (HMAC-SHA256 verified), ${text.json.language}; signed in as ${phone}`;
  });
  await signOut();

  await step('in German: the element\'s strings from the server, and the code mailed in German', async () => {
    await page.goto(`${origin}/?lang=de-DE`, { waitUntil: 'load' });
    const button = byTestId('continue-button');
    await button.waitFor({ state: 'visible' });
    const label = (await button.textContent()).trim();
    if (label !== 'Weiter') throw new Error(`the continue button reads ${JSON.stringify(label)}`);
    const seen = (await mailbox()).length;
    await byTestId('identifier-input').fill(email);
    await button.click();
    const mail = await newMail(seen, email);
    if (mail.subject !== 'Dein Anmeldecode für Passage') throw new Error(`the mail's subject: ${mail.subject}`);
    await page.locator('passage-auth').getByText('Code eingeben').filter({ visible: true }).first().waitFor({ state: 'visible' });
    await page.screenshot({ path: path.join(out, 'flows-german.png'), fullPage: true });
    await typeCode(mail.code);
    await who(email);
    return `"${label}"; mail "${mail.subject}"; signed in`;
  });
  await signOut();

  // --- the profile: passkeys and codes, the app's fields -----------------------------------
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const pat = `pat+${Date.now().toString(36)}@example.com`;
  const patId = await step(`register ${pat} with the app's field "Company" and a passkey`, async () => {
    await page.goto(`${profile.origin}/`, { waitUntil: 'load' });
    await page.locator('passage-auth div.link [data-testid="register-link"]').filter({ visible: true }).click();
    await byTestId('identifier-input').fill(pat);
    await page.locator('passage-auth #f-company input').fill('ACME');
    await byTestId('continue-button').click();
    await byTestId('register-main-button').click();
    await who(pat);
    const found = await profile.manage('GET', `/users?identifier=${encodeURIComponent(pat)}`);
    const user = found.body?.users?.[0];
    if (JSON.stringify(user?.user_metadata) !== JSON.stringify({ company: 'ACME' })) {
      throw new Error(`the new user's metadata: ${JSON.stringify(found.body)}`);
    }
    return user.id;
  });
  const patUser = async () => (await profile.manage('GET', `/users/${patId}`)).body?.user;
  /** Waits until the stored user passes `check`; returns it. */
  const until = async (what, check) => {
    const deadline = Date.now() + ACTION_MS;
    let user;
    while (Date.now() < deadline) {
      user = await patUser();
      if (user && check(user)) return user;
      await page.waitForTimeout(100);
    }
    throw new Error(`${what}: the user is ${JSON.stringify(user)}`);
  };
  const profileEl = page.locator('passage-profile');
  /** The profile's input `testId` shows `expected` (the profile shows its values in inputs). */
  const valueShown = async (testId, expected) => {
    const deadline = Date.now() + ACTION_MS;
    let value = '';
    while (Date.now() < deadline) {
      value = await byTestId(testId).first().inputValue().catch(() => '');
      if (value === expected) return;
      await page.waitForTimeout(100);
    }
    throw new Error(`the profile's ${testId} shows ${JSON.stringify(value)}, expected ${expected}`);
  };
  const emailShown = (expected) => valueShown('profile-email-input', expected);
  await step('the profile shows the account; its fields are edited and saved', async () => {
    await page.goto(`${profile.origin}/profile`, { waitUntil: 'load' });
    await emailShown(pat);
    await valueShown('passkey-table-row-0-device-name', 'Chrome passkey');
    await profileEl.getByText('This device').filter({ visible: true }).first().waitFor({ state: 'visible' });
    await page.screenshot({ path: path.join(out, 'flows-profile.png'), fullPage: true });
    await profileEl.locator('.metadata-header .edit-save-text').first().click();
    await profileEl.locator('#f-company input').fill('ACME Corp');
    await profileEl.locator('#f-seats input').fill('12');
    const saved = page.waitForResponse((r) => r.url().endsWith('/currentuser/user-metadata') && r.request().method() === 'PATCH');
    await profileEl.locator('.metadata-header .edit-save-text').filter({ hasText: 'Save' }).click();
    const answer = await saved;
    if (answer.status() !== 200) throw new Error(`PATCH /currentuser/user-metadata: ${answer.status()}`);
    const user = await until('the fields saved', (u) => u.user_metadata?.company === 'ACME Corp' && u.user_metadata?.seats === 12);
    return `user_metadata ${JSON.stringify(user.user_metadata)}`;
  });
  await step('a passkey is renamed in the profile', async () => {
    await byTestId('edit-passkey-button-0').click();
    const input = byTestId('passkey-table-row-0-device-name').first();
    await input.fill('Work laptop');
    await input.press('Enter');
    const user = await until('the passkey renamed', (u) => u.webauthn_devices?.[0]?.friendly_name === 'Work laptop');
    return `device ${user.webauthn_devices[0].id} is "Work laptop"`;
  });
  await step('a passkey is removed in the profile, then another added', async () => {
    await byTestId('revoke-passkey-button-0').click();
    await byTestId('revoke-passkey-button-confirmation').click();
    await until('the passkey removed', (u) => u.webauthn_devices?.length === 0);
    // (This authenticator holds a passkey of this user's: only once it is removed from the
    // account can the same authenticator add one again — the server excludes known ones.)
    await byTestId('add-passkey-button').click();
    await byTestId('add-device-primary-button').click();
    const user = await until('a passkey added', (u) => u.webauthn_devices?.length === 1);
    await valueShown('passkey-table-row-0-device-name', user.webauthn_devices[0].friendly_name);
    return `removed; added ${user.webauthn_devices[0].friendly_name}`;
  });
  const newEmail = pat.replace('pat+', 'pat.new+');
  await step(`the email changes to ${newEmail} only once the link sent there is opened`, async () => {
    const seen = (await mailbox(profile)).length;
    await byTestId('edit-button').first().click();
    await byTestId('profile-email-input').fill(newEmail);
    await byTestId('save-button').first().click();
    await profileEl.getByText('Check your inbox').filter({ visible: true }).first().waitFor({ state: 'visible' });
    const mail = await newMail(seen, newEmail, profile);
    if (!mail.link.startsWith(`${profile.origin}/?psg_verify_link=`)) throw new Error(`the link: ${mail.link}`);
    if ((await patUser()).email !== pat) throw new Error('the email changed before the link was opened');
    await page.goto(mail.link, { waitUntil: 'load' });
    await page.locator('passage-auth').getByText('Your email address has changed').filter({ visible: true }).first().waitFor({ state: 'visible' });
    const user = await until('the email changed', (u) => u.email === newEmail && u.email_verified);
    const told = (await mailbox(profile)).slice(seen).find((m) => m.to === pat);
    if (!told || !told.text.includes(newEmail)) throw new Error(`the old address was not told: ${JSON.stringify(await mailbox(profile))}`);
    await page.screenshot({ path: path.join(out, 'flows-email-changed.png'), fullPage: true });
    return `${user.email} verified; the old address told`;
  });
  const newPhone = '+14155550133';
  await step(`a phone number is added: ${newPhone}, once the link texted to it (the signed webhook) is opened`, async () => {
    await page.goto(`${profile.origin}/profile`, { waitUntil: 'load' });
    await emailShown(newEmail);
    const seen = texts.length;
    await byTestId('edit-button').nth(1).click();
    const input = byTestId('profile-phone-input');
    await input.click();
    await input.fill('');
    await page.keyboard.type('(415) 555-0133', { delay: 20 });
    await byTestId('save-button').first().click();
    await profileEl.getByText('Check your phone').filter({ visible: true }).first().waitFor({ state: 'visible' });
    const text = await newText(seen, newPhone);
    if (!text.verified) throw new Error("the webhook request's signature did not verify");
    if (text.json.type !== 'magic_link' || !text.json.link.startsWith(`${profile.origin}/?psg_verify_link=`)) {
      throw new Error(`unexpected webhook body ${JSON.stringify({ ...text.json, link: '…' })}`);
    }
    if ((await patUser()).phone !== '') throw new Error('the phone changed before the link was opened');
    await page.goto(text.json.link, { waitUntil: 'load' });
    const user = await until('the phone added', (u) => u.phone === newPhone && u.phone_verified);
    return `${user.phone} verified (typed as a US number in the element's phone input)`;
  });
  await step('the profile shows the new email', async () => {
    await page.goto(`${profile.origin}/profile`, { waitUntil: 'load' });
    await emailShown(newEmail);
    return 'yes';
  });

  return `${email} and ${phone} registered and signed in with one-time passcodes; ${pat} registered with the app's field and a passkey, then in <passage-profile> edited its fields, renamed, removed and added a passkey, changed its email by the link mailed to the new address and added a phone number by the link texted to it`;
}

async function saveFailure(err) {
  console.error(`FAIL ${currentStep}: ${err?.stack ?? err}`);
  if (page) {
    try {
      await page.screenshot({ path: path.join(out, 'flows-failure.png'), fullPage: true });
    } catch {}
  }
  fs.writeFileSync(path.join(out, 'flows-console.log'), log.join('\n') + '\n');
  console.error(`saved ${path.join(out, 'flows-failure.png')}, flows-console.log, flows-server.log`);
  const tail = log.slice(-15);
  if (tail.length) console.error(`last browser log lines:\n  ${tail.join('\n  ')}`);
}

const watchdog = setTimeout(async () => {
  await saveFailure(new Error(`the whole run took more than ${TOTAL_MS / 1000} s`));
  process.exit(1);
}, TOTAL_MS);

try {
  const summary = await main();
  if (offsite.length) throw new Error(`the page reached beyond this machine: ${[...new Set(offsite)].join(', ')}`);
  fs.writeFileSync(path.join(out, 'flows-console.log'), log.join('\n') + '\n');
  console.log(`browser flows check ok: ${summary} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exitCode = 0;
} catch (err) {
  await saveFailure(err);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 5_000))]).catch(() => {});
  for (const child of children) child.kill('SIGTERM');
  for (const l of listeners) l.close();
}
process.exit(process.exitCode);
