import { assert, describe, it } from "@effect/vitest"
import { PostgresConfig, PostgresLive } from "@pgfleet/postgres"
import { ConfigError, ConfigProvider, Duration, Effect, Either, Layer, Redacted } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

const base = {
  DB_WRITER_HOST: "db-primary.internal",
  DB_USERNAME: "app",
  DB_PASSWORD: "p@ss:w/rd#?%&= ü",
  DB_NAME: "app"
}

/** A file that exists but holds no certificate. */
const notPem = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-config-")), "ca.pem")
fs.writeFileSync(notPem, "this is not a certificate\n")

const load = (env: Record<string, string>) =>
  PostgresConfig.fromEnv.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

const rejected = (env: Record<string, string>) => Effect.map(Effect.either(load(env)), Either.getLeft)

describe("PostgresConfig", () => {
  it.effect("reads every DB_* variable, with defaults for the rest", () =>
    Effect.gen(function*() {
      const settings = yield* load({
        ...base,
        DB_PORT: "6432",
        DB_READER_HOSTS: "replica-1, replica-2:7000,[::1]:5433",
        DB_MIN_POOL_SIZE: "3",
        DB_MAX_POOL_SIZE: "20",
        DB_POOL_TIMEOUT: "7",
        DB_READER_STRATEGY: "least-connections",
        DB_STATEMENT_TIMEOUT_MS: "1500",
        DB_STATEMENT_TIMEOUT_MODE: "set"
      })
      assert.deepStrictEqual(settings.writer, { host: "db-primary.internal", port: 6432 })
      assert.deepStrictEqual(settings.writers, [{ host: "db-primary.internal", port: 6432 }])
      assert.deepStrictEqual(settings.readers, [
        { host: "replica-1", port: 6432 },
        { host: "replica-2", port: 7000 },
        { host: "::1", port: 5433 }
      ])
      assert.strictEqual(settings.minPoolSize, 3)
      assert.strictEqual(settings.maxPoolSize, 20)
      assert.strictEqual(Duration.toMillis(settings.poolTimeout), 7000)
      assert.strictEqual(Duration.toMillis(settings.statementTimeout), 1500)
      assert.strictEqual(settings.statementTimeoutMode, "set")
      assert.strictEqual(settings.readerStrategy, "least-connections")
      assert.strictEqual(settings.readerFallback, "writer")
      assert.strictEqual(settings.applicationName, "pgfleet")
      assert.strictEqual(Redacted.value(settings.password!), base.DB_PASSWORD)
    }))

  it.effect("an empty DB_READER_HOSTS means no replicas", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* load({ ...base, DB_READER_HOSTS: "" })).readers, [])
      assert.deepStrictEqual((yield* load(base)).readers, [])
    }))

  it.effect("the password never shows in the settings' printed or serialised forms", () =>
    Effect.gen(function*() {
      const settings = yield* load(base)
      for (const shown of [String(settings.password), JSON.stringify(settings), `${settings.password}`]) {
        assert.notInclude(shown, "w/rd")
      }
    }))

  const invalid: ReadonlyArray<readonly [Record<string, string>, string, string]> = [
    [{ DB_MAX_POOL_SIZE: "ten" }, "DB_MAX_POOL_SIZE", "digits only"],
    [{ DB_PORT: "54.32" }, "DB_PORT", "digits only"],
    // Config.integer would take these (it parses with Number()).
    [{ DB_HEALTH_CHECK_INTERVAL_MS: "1e3" }, "DB_HEALTH_CHECK_INTERVAL_MS", `got "1e3"`],
    [{ DB_PORT: " 5432" }, "DB_PORT", `got " 5432"`],
    [{ DB_MAX_POOL_SIZE: "0x10" }, "DB_MAX_POOL_SIZE", `got "0x10"`],
    [{ DB_POOL_TIMEOUT: "10.5" }, "DB_POOL_TIMEOUT", `got "10.5"`],
    [{ DB_CONNECT_TIMEOUT_MS: "" }, "DB_CONNECT_TIMEOUT_MS", "digits only"],
    [{ DB_SSL_MODE: "verify-full", DB_SSL_CA_FILE: notPem }, "DB_SSL_CA_FILE", "holds none that parses"],
    [{ DB_MIN_POOL_SIZE: "0" }, "DB_MIN_POOL_SIZE", "greater than 0"],
    [{ DB_MAX_POOL_SIZE: "-1" }, "DB_MAX_POOL_SIZE", "digits only"],
    [{ DB_MIN_POOL_SIZE: "5", DB_MAX_POOL_SIZE: "2" }, "DB_MIN_POOL_SIZE", "at most DB_MAX_POOL_SIZE (2)"],
    [{ DB_PORT: "70000" }, "DB_PORT", "1 to 65535"],
    [{ DB_WRITER_HOST: " " }, "DB_WRITER_HOST", "malformed entry"],
    [{ DB_WRITER_HOST: "db-1,,db-2" }, "DB_WRITER_HOST", "malformed entry"],
    [{ DB_WRITER_HOST: "db-1,db-1:5432" }, "DB_WRITER_HOST", "duplicate entry: db-1:5432"],
    [{ DB_WRITER_HOST: "db-1,db-2:70000" }, "DB_WRITER_HOST", "1-65535"],
    [{ DB_READER_HOSTS: "replica-1,,replica-2" }, "DB_READER_HOSTS", "malformed"],
    [{ DB_READER_HOSTS: "replica-1:http" }, "DB_READER_HOSTS", "malformed"],
    [{ DB_READER_HOSTS: "replica-1:99999" }, "DB_READER_HOSTS", "1-65535"],
    [{ DB_READER_HOSTS: "replica-1,replica-1:5432" }, "DB_READER_HOSTS", "duplicate entry: replica-1:5432"],
    [{ DB_READER_STRATEGY: "fastest" }, "DB_READER_STRATEGY", "random"],
    [{ DB_READER_FALLBACK: "primary" }, "DB_READER_FALLBACK", "writer"],
    [{ DB_POOL_TIMEOUT: "0" }, "DB_POOL_TIMEOUT", "greater than 0"],
    [{ DB_CONNECT_TIMEOUT_MS: "-5" }, "DB_CONNECT_TIMEOUT_MS", "digits only"],
    [{ DB_CONNECT_RETRY_MAX_ATTEMPTS: "0" }, "DB_CONNECT_RETRY_MAX_ATTEMPTS", "greater than 0"],
    [{ DB_HEALTH_FAILURE_THRESHOLD: "0" }, "DB_HEALTH_FAILURE_THRESHOLD", "greater than 0"],
    [{ DB_SSL_MODE: "on" }, "DB_SSL_MODE", "verify-full"],
    [{ DB_SSL_MODE: "verify-full", DB_SSL_CA_FILE: "/nonexistent/ca.pem" }, "DB_SSL_CA_FILE", "readable PEM file"]
  ]
  for (const [overrides, variable, expected] of invalid) {
    it.effect(`${JSON.stringify(overrides)} is rejected, naming ${variable}`, () =>
      Effect.gen(function*() {
        const error = yield* rejected({ ...base, ...overrides })
        assert.isTrue(error._tag === "Some", "expected a ConfigError")
        const text = String(error._tag === "Some" && error.value)
        assert.include(text, variable)
        assert.include(text, expected)
        assert.notInclude(text, "w/rd")
      }))
  }

  it.effect("a missing required variable is named", () =>
    Effect.gen(function*() {
      const { DB_USERNAME: _, ...withoutUser } = base
      const error = yield* rejected(withoutUser)
      assert.include(String(error._tag === "Some" && error.value), "DB_USERNAME")
    }))

  it.effect("nothing connects before the config is valid", () =>
    Effect.gen(function*() {
      // A listener that records every connection attempt.
      let connections = 0
      const server = net.createServer((socket) => {
        connections++
        socket.destroy()
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => server.close())
      )
      const port = String((server.address() as net.AddressInfo).port)
      const env = { ...base, DB_WRITER_HOST: "127.0.0.1", DB_PORT: port, DB_MAX_POOL_SIZE: "0" }
      const error = yield* Layer.build(PostgresLive).pipe(
        Effect.scoped,
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
        Effect.flip
      )
      assert.isTrue(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
      assert.include(String(error), "DB_MAX_POOL_SIZE")
      assert.strictEqual(connections, 0)
    }).pipe(Effect.scoped))

  for (const readme of ["../../../README.md", "../README.md"]) {
    it(`the configuration table in ${readme} is the one the settings render (pnpm docs:settings)`, () => {
      const text = fs.readFileSync(path.join(__dirname, readme), "utf8")
      const shown = text.slice(
        text.indexOf("<!-- settings:begin -->") + "<!-- settings:begin -->".length,
        text.indexOf("<!-- settings:end -->")
      ).trim()
      assert.strictEqual(shown, PostgresConfig.markdownTable())
    })
  }

  it.effect("every setting is read from its variable: the env and code sides agree on names", () =>
    Effect.gen(function*() {
      const input = yield* PostgresConfig.inputFromEnv.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({ ...base, DB_POOL_TIMEOUT: "3" }))))
      )
      assert.deepStrictEqual(Object.keys(input).sort(), Object.keys(PostgresConfig.settings).sort())
      const settings = yield* PostgresConfig.make(input)
      assert.strictEqual(Duration.toMillis(settings.poolTimeout), 3000)
      assert.strictEqual(PostgresConfig.variables.poolTimeout, "DB_POOL_TIMEOUT")
    }))
})
