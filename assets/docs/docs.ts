// The interactive reference: Swagger UI (served from this Worker's assets,
// never a CDN) over the service's own /openapi.json. "Authorize" takes a
// bearer token; "Try it out" sends requests to this origin.

declare const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  // The default validator badge calls a third-party host.
  validatorUrl: null,
  persistAuthorization: false,
  displayRequestDuration: true,
  tryItOutEnabled: false,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
});
