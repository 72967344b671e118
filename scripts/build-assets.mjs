// Builds the Worker's static assets into dist/assets (git-ignored), served by
// Workers Static Assets (wrangler.toml [assets]): the console (assets/console,
// bundled with esbuild), the pages and styles in assets/public as they are,
// and Swagger UI's files copied from node_modules for /docs, so nothing is
// fetched from a third-party host at run time. Run by prestart and pretest.
import { build } from "esbuild";
import { copyFile, cp, mkdir, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const OUT = join(ROOT, "dist", "assets");
const require = createRequire(import.meta.url);
const swaggerUi = dirname(require.resolve("swagger-ui-dist/package.json"));

const started = Date.now();
await rm(OUT, { recursive: true, force: true });
await cp(join(ROOT, "assets", "public"), OUT, { recursive: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: { "console/app": "assets/console/main.ts", "docs/docs": "assets/docs/docs.ts" },
  outdir: OUT,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
});
await mkdir(join(OUT, "docs"), { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]) {
  await copyFile(join(swaggerUi, file), join(OUT, "docs", file === "LICENSE" ? "swagger-ui-LICENSE.txt" : file));
}
console.log(`build-assets: dist/assets in ${Date.now() - started} ms`);
