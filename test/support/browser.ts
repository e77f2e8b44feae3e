/**
 * A real browser for the page tests: Debian's `chromium`, headless, driven by `puppeteer-core`
 * (no browser download ever), with a fresh profile in the test's temp dir and every background
 * service off, so the only traffic is the page's. A watcher records what a page did: console
 * messages, uncaught errors, failed and refused requests, every URL it asked for.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** `CHROMIUM` overrides the path (another distribution's binary). */
export const CHROMIUM_PATH = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchChromium(dir: string): Promise<Browser> {
  const profile = join(dir, 'chromium-profile');
  mkdirSync(profile, { recursive: true });
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
    defaultViewport: { width: 1280, height: 800 },
  });
}

export interface PageRecord {
  /** Console messages of type error or warning, and uncaught exceptions. */
  problems: string[];
  /** Requests that failed on the network, or were answered 4xx/5xx: `STATUS METHOD URL`. */
  failed: string[];
  /** Every request: `METHOD URL`. */
  requests: string[];
  /** Forgets what was recorded (after a step that fails on purpose). */
  clear(): void;
}

/** Records what `page` does from now on. */
export function watchPage(page: Page): PageRecord {
  const record: PageRecord = {
    problems: [],
    failed: [],
    requests: [],
    clear() {
      record.problems.length = 0;
      record.failed.length = 0;
    },
  };
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') {
      record.problems.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => record.problems.push(`uncaught: ${String(error)}`));
  page.on('request', (request) => record.requests.push(`${request.method()} ${request.url()}`));
  page.on('requestfailed', (request) =>
    record.failed.push(`${request.failure()?.errorText ?? 'failed'} ${request.method()} ${request.url()}`),
  );
  page.on('response', (response) => {
    if (response.status() >= 400) {
      record.failed.push(`${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  return record;
}
