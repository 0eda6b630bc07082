#!/usr/bin/env node
'use strict';
// The answer page (bot/web/answer_page.py) in headless Debian Chromium on a phone-sized screen
// (390 x 844, touch), driven by playwright-core. tests/test_answer_page_browser.py serves the bot,
// makes the links and runs this script with them as JSON in ANSWER_LINKS:
//   { accept, decline, expired, forged }  (full URLs; `accept` is reused once used)
// Each step checks what a person would see, by role and label, and saves a screenshot into
// E2E_SCREENSHOT_DIR (default docs/screenshots/) as answer-page-*.png. Prints PASSED at the end.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium), ANSWER_LINKS, E2E_SCREENSHOT_DIR.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.E2E_SCREENSHOT_DIR || path.join(REPO, 'docs', 'screenshots'));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `answer-page-${name}.png`), fullPage: true });
}

async function heading(page) {
  return (await page.getByRole('heading', { level: 1 }).innerText()).trim();
}

async function main() {
  const links = JSON.parse(process.env.ANSWER_LINKS || '{}');
  for (const key of ['accept', 'decline', 'expired', 'forged']) assert.ok(links[key], `ANSWER_LINKS.${key} is missing`);
  const { chromium } = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'answer-page-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, locale: 'en-GB', timezoneId: 'Europe/London', ...PHONE,
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);

    // 1. Accept: the page says who asks, why and when; one tap answers.
    await page.goto(links.accept);
    assert.equal(await heading(page), 'Child protection strategy meeting: your answer is needed');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en-GB');
    const body = await page.locator('main').innerText();
    for (const text of ['invites you as Police', 'Must take place by', 'Why your agency is invited', 'Sam Chair']) {
      assert.ok(body.includes(text), `the page should say "${text}"`);
    }
    const accept = page.getByRole('button', { name: 'Accept: I will attend' });
    const box = await accept.boundingBox();
    assert.ok(box.height >= 44 && box.width >= 300, `the Accept button is a large target (${box.width}x${box.height})`);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 390, `nothing scrolls sideways on a phone (${scrollWidth}px wide)`);
    await shot(page, '01-invitation');
    await accept.tap();
    await page.getByRole('heading', { name: 'Thank you: your answer is recorded' }).waitFor();
    assert.ok((await page.locator('main').innerText()).includes('You accepted: you will attend.'));
    await shot(page, '02-accepted');

    // 2. The same link again: used up, a plain page naming the chair.
    await page.goto(links.accept);
    assert.equal(await heading(page), 'This link has already been used');
    assert.ok((await page.locator('main').innerText()).includes('Nothing was changed.'));
    await shot(page, '05-used');

    // 3. Decline: a reason is needed; the error is on the field, announced and linked to it.
    await page.goto(links.decline);
    await page.getByText('Decline: my agency cannot attend').tap();
    await page.getByRole('button', { name: 'Send decline' }).tap();
    await page.getByRole('heading', { name: 'There is a problem' }).waitFor();
    const reason = page.getByLabel('Why can your agency not attend?');
    assert.equal(await reason.getAttribute('aria-invalid'), 'true');
    const described = await reason.getAttribute('aria-describedby');
    assert.ok(described.includes('decline_reason-error'), described);
    assert.ok((await page.locator('#decline_reason-error').innerText()).includes('Give a reason'));
    await shot(page, '03-decline-error');
    await reason.fill('No officer free before Friday; DS Lee can join by phone.');
    await page.getByRole('button', { name: 'Send decline' }).tap();
    await page.getByRole('heading', { name: 'Thank you: your answer is recorded' }).waitFor();
    const declined = await page.locator('main').innerText();
    assert.ok(declined.includes('You declined.') && declined.includes('No officer free before Friday'), declined);
    await shot(page, '04-declined');

    // 4. Expired and forged links: plain pages, nothing to press.
    await page.goto(links.expired);
    assert.equal(await heading(page), 'This link has expired');
    assert.equal(await page.getByRole('button').count(), 0);
    await shot(page, '06-expired');
    await page.goto(links.forged);
    assert.equal(await heading(page), 'This link is not valid');
    assert.equal(await page.getByRole('button').count(), 0);
    await shot(page, '07-forged');
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log('PASSED');
}

main().catch((err) => { console.error(err); process.exit(1); });
