// Preloaded by bun test (bunfig.toml): keep the server's own logs out of test output unless
// TEST_LOG_LEVEL asks for them.
import { setLogLevel } from "../src/log.ts";
import type { LogLevel } from "../src/config.ts";

setLogLevel((process.env.TEST_LOG_LEVEL as LogLevel | undefined) ?? "error");
