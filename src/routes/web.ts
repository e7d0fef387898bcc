// The explorer (src/web/) at `/`, its bundled scripts and styles under /assets/. They hold no
// data (the page asks the API for everything, with the user's credentials), so they are served to
// everyone, also when credentials are configured: the page loads, then asks for them.
//
// `bun build --compile` bundles the HTML import and embeds its files (page.files); run from source
// (`bun run`, `bun test`), page.files is absent and the page is bundled here once, on first use,
// with the same minification as the build. Bun names the files by content (chunk-<hash>.js) and
// links them from the root; they are served under /assets/ and the page's links say so.
import { Elysia } from "elysia";
import { gzipSync } from "node:zlib";
import page from "../web/index.html";
import { HttpError } from "./http.ts";

interface Asset {
  body: Uint8Array;
  gzipped: Uint8Array;
  type: string;
  etag: string;
}

export interface WebBundle {
  html: Asset;
  /** By file name (chunk-abc.js). */
  assets: Map<string, Asset>;
}

const encoder = new TextEncoder();

function asset(body: Uint8Array, type: string): Asset {
  return { body, gzipped: gzipSync(body, { level: 9 }), type, etag: `"${Bun.hash(body).toString(36)}"` };
}

const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** The page's links to its files (href="/chunk-x.css", src="./chunk-y.js") point under /assets/. */
function linkAssets(html: string, names: Iterable<string>): string {
  let out = html;
  for (const name of names)
    out = out.replace(new RegExp(`(["'(])(?:\\.?/)?${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "g"), `$1/assets/${name}`);
  return out;
}

async function filesOfBundle(): Promise<{ name: string; type: string; body: Uint8Array; html: boolean }[]> {
  if (page.files !== undefined) {
    // Compiled: the files are embedded in the executable.
    return Promise.all(
      page.files.map(async (f) => ({
        name: baseName(f.path),
        type: f.headers["content-type"],
        body: new Uint8Array(await Bun.file(f.path).arrayBuffer()),
        html: f.loader === "html",
      })),
    );
  }
  const built = await Bun.build({
    entrypoints: [page.index],
    target: "browser",
    minify: { whitespace: true, syntax: true },
    publicPath: "/",
  });
  if (!built.success) throw new Error(`the explorer does not bundle: ${built.logs.map(String).join("; ")}`);
  return Promise.all(
    built.outputs.map(async (o) => ({
      name: baseName(o.path),
      type: o.type,
      body: new Uint8Array(await o.arrayBuffer()),
      html: o.path.endsWith(".html"),
    })),
  );
}

let bundle: Promise<WebBundle> | undefined;

/** The explorer's files, read (or bundled) once. */
export function webBundle(): Promise<WebBundle> {
  bundle ??= filesOfBundle().then((files) => {
    const assets = new Map<string, Asset>();
    let html: string | undefined;
    for (const f of files) {
      if (f.html) html = new TextDecoder().decode(f.body);
      else assets.set(f.name, asset(f.body, f.type));
    }
    if (html === undefined) throw new Error("the explorer's bundle has no page");
    return { html: asset(encoder.encode(linkAssets(html, assets.keys())), "text/html;charset=utf-8"), assets };
  });
  bundle.catch(() => (bundle = undefined)); // tried again on the next request
  return bundle;
}

function send(request: Request, a: Asset, cacheControl: string): Response {
  const headers: Record<string, string> = {
    "content-type": a.type,
    etag: a.etag,
    "cache-control": cacheControl,
    vary: "accept-encoding",
  };
  if (request.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
  const gzip = /\bgzip\b/.test(request.headers.get("accept-encoding") ?? "");
  if (gzip) headers["content-encoding"] = "gzip";
  return new Response(gzip ? a.gzipped : a.body, { headers });
}

const hidden = { hide: true };

export function webRoutes() {
  return new Elysia({ name: "routes.web" })
    .get("/", async ({ request }) => send(request, (await webBundle()).html, "no-cache"), {
      detail: { ...hidden, summary: "The log explorer (a web page)" },
    })
    .get(
      "/assets/*",
      async ({ request, params }) => {
        const name = params["*"];
        const found = (await webBundle()).assets.get(name);
        if (found === undefined) throw new HttpError(404, "not found", `no explorer asset ${name}`);
        // Named by content: a new build has new names.
        return send(request, found, "public, max-age=31536000, immutable");
      },
      { detail: { ...hidden, summary: "The explorer's scripts and styles" } },
    );
}
