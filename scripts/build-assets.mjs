// Copies the pinned npm libraries into src/rapport/static/vendor/, served by the app itself.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "src", "rapport", "static", "vendor");
mkdirSync(out, { recursive: true });
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "sortablejs/Sortable.min.js": "Sortable.min.js",
  "chart.js/dist/chart.umd.js": "chart.umd.js",
  "chart.js/dist/chart.umd.js.map": "chart.umd.js.map", // referenced by the file; collectstatic checks it
};
for (const [from, to] of Object.entries(files)) {
  copyFileSync(join(root, "node_modules", from), join(out, to));
  console.log(`vendor/${to}`);
}
