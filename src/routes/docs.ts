// OpenAPI docs: the UI at /swagger and the spec at /swagger/json. The Swagger UI script and
// stylesheet are embedded (imported as text), so the page works offline and inside the
// compiled single binary.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
// @ts-ignore: imported as text, embedded by the bundler
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
// @ts-ignore: imported as text, embedded by the bundler
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "text" };

export function docsRoutes(version: string) {
  return new Elysia({ name: "routes.docs" })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        swagger: {
          cdn: "/swagger/assets/swagger-ui-bundle.js",
          theme: "/swagger/assets/swagger-ui.css",
        },
        exclude: { paths: [/^\/swagger/] },
        documentation: {
          info: {
            title: "kube-insight-logserver",
            version,
            description:
              "Stores Kubernetes pod logs sent by Fluent Bit and answers queries for a container's lines in a time range.",
          },
          tags: [
            { name: "ingest", description: "Fluent Bit's http output writes here" },
            { name: "query", description: "Read logs back, or follow them" },
            { name: "discovery", description: "What exists: namespaces, pods and containers, labels" },
            { name: "operate", description: "Metrics" },
            { name: "debug", description: "Profiling (with --enable-profiling)" },
          ],
        },
      }),
    )
    .get(
      "/swagger/assets/swagger-ui-bundle.js",
      () =>
        new Response(swaggerBundle as string, {
          headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
        }),
      { detail: { hide: true } },
    )
    .get(
      "/swagger/assets/swagger-ui.css",
      () =>
        new Response(swaggerCss as string, {
          headers: { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=86400" },
        }),
      { detail: { hide: true } },
    );
}
