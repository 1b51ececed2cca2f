// Runs ljm.html's flows in Debian's headless Chromium (never a downloaded browser).
// Usage: node drive.mjs '{"chromium": PATH, "page": URL, "flows": [cfg, ...], "timeoutMs": N}'
// Prints {"results": [...], "console": [...]} as JSON on stdout; exits non-zero on error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { chromium: executablePath, page: url, flows, timeoutMs } = JSON.parse(process.argv[2]);
const profile = mkdtempSync(join(tmpdir(), 'jmt-chromium-'));
const consoleLines = [];
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath,
        headless: true,
        timeout: timeoutMs,
        args: [
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'
        ]
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    page.on('console', m => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', e => consoleLines.push(`pageerror: ${e.message}`));
    await page.goto(url);
    const results = [];
    for (const flow of flows) {
        results.push(await page.evaluate(cfg => window.ljmFlow(cfg), flow));
    }
    process.stdout.write(JSON.stringify({ results, console: consoleLines }));
} catch (e) {
    process.stderr.write(`${e.stack}\n${consoleLines.join('\n')}\n`);
    process.exitCode = 1;
} finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
}
