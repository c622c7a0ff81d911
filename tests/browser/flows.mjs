// Real-browser checks of the flows beyond passkeys (run by tests/browser.sh): headless Chromium
// drives the real @passageidentity/passage-elements 2.0.9 elements against a passage-server this
// script starts, on pages this script serves:
//   otp      one-time passcodes: register by email with the code from the development mailbox,
//            a wrong code and the element's error, five wrong codes and its "too many tries",
//            sign in again with a code; register a phone number (typed into the element's
//            intl-tel-input) with the code that reached an SMS webhook receiver started here
//            (its HMAC signature verified against the shared secret).
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
function pageHtml(authUrl, appId, element) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>passage-server flows</title></head>
<body>
<script src="${authUrl}/passage-fetch.js"></script>
<script type="module" src="${authUrl}/elements/${element}/index.es.js"></script>
<${element} app-id="${appId}" lang="en" default-country-code="us"></${element}>
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
  const [pagePort, authPort, apiPort, smsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const origin = `http://localhost:${pagePort}`;
  const authUrl = `http://localhost:${authPort}`;
  const appId = 'flows_app';

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
  await serve(pagePort, (req, res) => {
    const url = new URL(req.url, origin);
    const element = url.pathname === '/profile' ? 'passage-profile' : 'passage-auth';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pageHtml(authUrl, appId, element));
  });

  const serverLog = fs.openSync(path.join(out, 'flows-server.log'), 'w');
  const server = spawn(serverBin, [
    'serve', '--dev', '--app-id', appId, '--auth-origin', origin,
    '--auth-bind', `127.0.0.1:${authPort}`, '--api-bind', `127.0.0.1:${apiPort}`,
    '--public-url', authUrl, '--elements-dir', elementsDir,
    '--auth-methods', 'otp', '--identifiers', 'both',
    '--sms-webhook-url', `http://127.0.0.1:${smsPort}/sms`, '--sms-webhook-secret-file', secretFile,
  ], { stdio: ['ignore', serverLog, serverLog], env: { ...process.env, RUST_LOG: 'info' } });
  children.push(server);
  await step('passage-server answers', async () => {
    for (;;) {
      if (server.exitCode !== null) throw new Error(`passage-server exited ${server.exitCode}; see flows-server.log`);
      try {
        const r = await fetch(`${authUrl}/v1/apps/${appId}`);
        if (r.ok) return `app info: ${JSON.stringify((await r.json()).app.auth_methods)}`;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
  });

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
  const mailbox = async () => (await (await fetch(`${authUrl}/__passage/mailbox`)).json()).messages;
  /** The newest message to `to` after `seen` messages, waited for. */
  const newMail = async (seen, to) => {
    const deadline = Date.now() + ACTION_MS;
    for (;;) {
      const mail = (await mailbox()).slice(seen).filter((m) => m.to === to).pop();
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

  return `${email} and ${phone} registered and signed in with one-time passcodes`;
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
