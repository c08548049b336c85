/**
 * The offline HTML report in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): every chart renders, nothing is fetched from the network, and the
 * console stays clean. A screenshot is kept in the report directory.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../../src/cli/compare.js';
import { runComparison } from '../../src/report/compare.js';
import { workloadScenario } from '../../src/scenario/workloads.js';

const CPU_ONLY = `name: cpu-only
steps:
  - mmap: { as: a, size: 64 pages }
  - write: { at: a, size: 64 pages, value: index }
  - munmap: { at: a + 8 pages, size: 8 pages }
  - read: { at: a, size: 8 pages, expect: index }
`;

describe('HTML report in Chromium', () => {
  it('renders every chart offline with no console errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svmsim-report-'));
    const rows = runComparison(
      [
        { name: 'cpu-only', text: () => CPU_ONLY },
        {
          name: 'streaming',
          text: (g) =>
            workloadScenario('streaming', { mib: 2, passes: 1 }, 'streaming', `{ gpus: ${g} }`),
        },
        {
          name: 'allocator-churn',
          text: (g) =>
            workloadScenario(
              'allocator-churn',
              { heap_mib: 2, ops: 6 },
              'allocator-churn',
              `{ gpus: ${g} }`,
            ),
        },
      ],
      { designs: ['rfc-v1', 'rfc-v2'], gpus: [1, 2], xnack: [undefined] },
    );
    const html = writeReport(dir, rows, 'test');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto(`file://${html}`);
      await page.waitForFunction(
        () => typeof (globalThis as { __svmsimCharts?: number }).__svmsimCharts === 'number',
      );
      const rendered = await page.evaluate(
        () => (globalThis as { __svmsimCharts?: number }).__svmsimCharts ?? 0,
      );
      const canvases = await page.locator('canvas.svmsim-chart').count();
      expect(canvases).toBeGreaterThanOrEqual(2);
      expect(rendered).toBe(canvases);
      const sizes = await page.$$eval('canvas.svmsim-chart', (els) =>
        els.map(
          (e) =>
            (e as unknown as { width: number }).width * (e as unknown as { height: number }).height,
        ),
      );
      expect(sizes.every((s) => s > 0)).toBe(true);
      expect(await page.locator('section.question').count()).toBe(3);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      const shot = join(dir, 'report.png');
      writeFileSync(shot, await page.screenshot({ fullPage: true }));
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
