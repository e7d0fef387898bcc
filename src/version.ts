// The service's version, from package.json: one place for the app, the entry point and the Loki API.
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
