// The Experiments panel's page shell: a strict Content Security Policy (no remote resources,
// only the extension's own stylesheet and the one script carrying this page's nonce).
import { randomBytes } from "node:crypto";

export interface PageSources {
  /** The webview's `cspSource`. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
}

export function newNonce(): string {
  return randomBytes(18).toString("base64url");
}

export function panelHtml(sources: PageSources, nonce: string): string {
  const csp = [
    "default-src 'none'",
    `style-src ${sources.cspSource}`,
    `img-src ${sources.cspSource}`,
    `font-src ${sources.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${sources.styleUri}">
<title>MLR-Copilot: Experiments</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${sources.scriptUri}"></script>
</body>
</html>`;
}
