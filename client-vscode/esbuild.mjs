import * as esbuild from "esbuild";

const production = process.argv.includes("--production");
const watch = process.argv.includes("--watch");

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: "info" };

// The extension, and the Experiments panel's page, which runs in the webview's browser.
const contexts = await Promise.all([
  esbuild.context({
    ...common,
    entryPoints: ["src/extension.ts"],
    format: "cjs",
    platform: "node",
    target: "node18",
    outfile: "dist/extension.js",
    external: ["vscode"],
  }),
  esbuild.context({
    ...common,
    entryPoints: ["src/webview/panelView.ts"],
    format: "iife",
    platform: "browser",
    target: "es2022",
    outfile: "media/panel.js",
    // a source map would be a second file the page's CSP has no reason to allow
    sourcemap: false,
  }),
]);

for (const ctx of contexts) {
  if (watch) {
    await ctx.watch();
  } else {
    await ctx.rebuild();
    await ctx.dispose();
  }
}
