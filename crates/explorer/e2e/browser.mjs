// Headless Chromium as every explorer test launches it: Debian's (or ALX_CHROMIUM), with
// nothing that reaches the network or changes between runs.
import { chromium } from 'playwright-core';

export const launch = () => chromium.launch({
  executablePath: process.env.ALX_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
