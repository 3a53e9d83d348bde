// What slicing costs in a browser: an LSTM forward (B8 T64 I256 H256, 2 layers, bidirectional) on the
// CPU engine in headless Chromium, with a signal that never fires against without one, in wall time
// (median of 7, interleaved). Between slices the engine yields to the event loop; a yield that waited
// for a nested setTimeout(0) (4 ms in browsers) made this 1.41–1.50×. Run: node bench/paced-chromium.mjs
// (build first).
import { runInChromium } from '@recurrent/conformance/browser-host';

console.log(await runInChromium(new URL('./paced-page.ts', import.meta.url)));
