import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { describe, expect, it } from "vitest"
import { Connection, Settings } from "../src/index.js"
import { CA_PEM } from "./fixtures.js"

const PASSWORD = "p@ss:w/rd#?%&= ü"
const env = { DB_WRITER_HOST: "db-primary.internal", DB_USERNAME: "app", DB_PASSWORD: PASSWORD }
const input: Settings.SettingsInput = { writerHosts: ["db-primary.internal"], username: "app", password: PASSWORD }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-settings-"))
const file = (name: string, text: string) => {
  const p = path.join(dir, name)
  fs.writeFileSync(p, text)
  return p
}

const valid = (result: Settings.Validation): Settings.Settings => {
  if (result._tag === "Invalid") throw new Settings.SettingsError(result.issues)
  return result.settings
}
const issues = (result: Settings.Validation): ReadonlyArray<Settings.Issue> => {
  expect(result._tag).toBe("Invalid")
  return result._tag === "Invalid" ? result.issues : []
}
/** The issues of a bad environment, as "VARIABLE: expected …" lines. */
const rejectedEnv = (overrides: Record<string, string | undefined>) =>
  issues(Settings.fromEnv({ ...env, ...overrides })).map((i) => `${i.variable}: expected ${i.expected}`)

describe("Settings", () => {
  it("DB_DRIVER=sql-pg only where the line supports it, and DB_MULTIPLEX and the set mode only with it", () => {
    expect(rejectedEnv({ DB_DRIVER: "sql-pg" })).toEqual([
      `DB_DRIVER: expected one of node-postgres (sql-pg is @pgfleet/effect4's), got "sql-pg"`
    ])
    const effect4 = { drivers: ["node-postgres", "sql-pg"] } as const
    expect(valid(Settings.fromEnv({ ...env, DB_DRIVER: "sql-pg", DB_MULTIPLEX: "true" }, effect4)).multiplex).toBe(
      true
    )
    expect(issues(Settings.fromEnv({ ...env, DB_MULTIPLEX: "true" }, effect4)).map((i) => i.variable)).toEqual([
      "DB_MULTIPLEX"
    ])
    const set = { ...env, DB_DRIVER: "sql-pg", DB_STATEMENT_TIMEOUT_MODE: "set", DB_STATEMENT_TIMEOUT_MS: "500" }
    expect(issues(Settings.fromEnv(set, effect4)).map((i) => i.variable)).toEqual(["DB_STATEMENT_TIMEOUT_MODE"])
  })

  it("fills in every default", () => {
    const s = valid(Settings.validate(input))
    expect(s.writer).toEqual({ host: "db-primary.internal", port: 5432 })
    expect(s.writers).toEqual([s.writer])
    expect(s.readers).toEqual([])
    expect(s.database).toBe("postgres")
    expect(s.applicationName).toBe("pgfleet")
    expect([s.minPoolSize, s.maxPoolSize, s.retryMaxAttempts, s.healthFailureThreshold]).toEqual([2, 10, 10, 2])
    // Durations are milliseconds, whatever the variable's unit.
    expect(s.poolTimeout).toBe(10_000)
    expect(s.maxIdleTime).toBe(300_000)
    expect(s.maxLifetime).toBe(1_800_000)
    expect(s.keepAliveIdle).toBe(30_000)
    expect(s.connectTimeout).toBe(5000)
    expect(s.statementTimeout).toBe(0)
    expect([s.ssl, s.statementTimeoutMode, s.readerStrategy, s.readerFallback]).toEqual([
      "disable",
      "startup",
      "random",
      "writer"
    ])
    expect([s.transformJson, s.autoReadYourWrites]).toEqual([true, true])
    expect(s.sslCa).toBeUndefined()
    expect(s.password).toBeInstanceOf(Settings.Secret)
    expect(s.password.value()).toBe(PASSWORD)
  })

  it("reads every kind from a plain record, each in its variable's unit", () => {
    const s = valid(Settings.fromEnv({
      ...env,
      DB_PORT: "6432",
      DB_READER_HOSTS: "replica-1, replica-2:7000,[::1]:5433",
      DB_NAME: " app ",
      DB_MAX_POOL_SIZE: "20",
      DB_POOL_TIMEOUT: "7",
      DB_STATEMENT_TIMEOUT_MS: "1500",
      DB_STATEMENT_TIMEOUT_MODE: "set",
      DB_TRANSFORM_JSON: "false",
      DB_SSL_MODE: "verify-full",
      DB_SSL_CA_FILE: file("good.pem", CA_PEM),
      DB_UNRELATED: "ignored"
    }))
    expect(s.readers).toEqual([
      { host: "replica-1", port: 6432 },
      { host: "replica-2", port: 7000 },
      { host: "::1", port: 5433 }
    ])
    expect(s.writer).toEqual({ host: "db-primary.internal", port: 6432 })
    expect(s.database).toBe("app")
    expect(s.maxPoolSize).toBe(20)
    expect(s.poolTimeout).toBe(7000)
    expect(s.statementTimeout).toBe(1500)
    expect(s.statementTimeoutMode).toBe("set")
    expect(s.transformJson).toBe(false)
    expect(s.sslCa).toBe(CA_PEM)
    expect(s.password.value()).toBe(PASSWORD)
  })

  it("an unset variable takes its default; an empty DB_READER_HOSTS means no replicas", () => {
    expect(valid(Settings.fromEnv({ ...env, DB_PORT: undefined })).port).toBe(5432)
    expect(valid(Settings.fromEnv({ ...env, DB_READER_HOSTS: "" })).readers).toEqual([])
    expect(valid(Settings.fromEnv({ ...env, DB_READER_HOSTS: " " })).readers).toEqual([])
  })

  const invalid: ReadonlyArray<readonly [Record<string, string>, string]> = [
    // integer
    [{ DB_MAX_POOL_SIZE: "ten" }, `DB_MAX_POOL_SIZE: expected a whole number (digits only), got "ten"`],
    [{ DB_PORT: " 5432" }, `DB_PORT: expected a whole number (digits only), got " 5432"`],
    [{ DB_MAX_POOL_SIZE: "0x10" }, `DB_MAX_POOL_SIZE: expected a whole number (digits only), got "0x10"`],
    [{ DB_MAX_POOL_SIZE: "-1" }, `DB_MAX_POOL_SIZE: expected a whole number (digits only), got "-1"`],
    [{ DB_MIN_POOL_SIZE: "0" }, "DB_MIN_POOL_SIZE: expected a whole number greater than 0, got 0"],
    [{ DB_PORT: "70000" }, "DB_PORT: expected a number from 1 to 65535, got 70000"],
    // duration
    [
      { DB_HEALTH_CHECK_INTERVAL_MS: "1e3" },
      `DB_HEALTH_CHECK_INTERVAL_MS: expected a whole number (digits only), got "1e3"`
    ],
    [{ DB_POOL_TIMEOUT: "10.5" }, `DB_POOL_TIMEOUT: expected a whole number (digits only), got "10.5"`],
    [{ DB_CONNECT_TIMEOUT_MS: "" }, `DB_CONNECT_TIMEOUT_MS: expected a whole number (digits only), got ""`],
    [{ DB_POOL_TIMEOUT: "0" }, "DB_POOL_TIMEOUT: expected a duration greater than 0, got 0"],
    // literal
    [
      { DB_READER_STRATEGY: "fastest" },
      `DB_READER_STRATEGY: expected one of random, round-robin, least-connections, got "fastest"`
    ],
    [{ DB_SSL_MODE: "on" }, `DB_SSL_MODE: expected one of disable, require, verify-full, got "on"`],
    // boolean
    [{ DB_TRANSFORM_JSON: "yes" }, `DB_TRANSFORM_JSON: expected true or false, got "yes"`],
    // text
    [{ DB_USERNAME: " " }, "DB_USERNAME: expected a value, got an empty one"],
    // hosts
    [
      { DB_WRITER_HOST: " " },
      `DB_WRITER_HOST: expected host or host:port entries; malformed entry: "" is not host or host:port`
    ],
    [{ DB_READER_HOSTS: "replica-1:http" }, `malformed entry: "replica-1:http" is not host or host:port`],
    [
      { DB_READER_HOSTS: "replica-1:99999" },
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: "replica-1:99999" has port 99999, expected 1-65535`
    ],
    [
      { DB_READER_HOSTS: "replica-1,replica-1:5432" },
      "DB_READER_HOSTS: expected distinct entries; duplicate entry: replica-1:5432"
    ],
    // cross-checks
    [
      { DB_MIN_POOL_SIZE: "5", DB_MAX_POOL_SIZE: "2" },
      "DB_MIN_POOL_SIZE: expected at most DB_MAX_POOL_SIZE (2), got 5"
    ],
    // file
    [
      { DB_SSL_CA_FILE: "/nonexistent/ca.pem" },
      "DB_SSL_CA_FILE: expected a readable PEM file, could not read /nonexistent/ca.pem"
    ],
    [
      { DB_SSL_CA_FILE: file("not.pem", "this is not a certificate\n") },
      "holds none that parses (no BEGIN CERTIFICATE block)"
    ],
    [
      { DB_SSL_CA_FILE: file("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") },
      "holds none that parses"
    ]
  ]
  for (const [overrides, expected] of invalid) {
    it(`${JSON.stringify(overrides)} is rejected, naming its variable`, () => {
      const found = rejectedEnv(overrides)
      expect(found.some((line) => line.includes(expected)), `${found.join("\n")}\nshould include\n${expected}`).toBe(
        true
      )
      expect(found.join("\n")).not.toContain("w/rd")
    })
  }

  it("a missing required variable is named, with every other problem", () => {
    expect(rejectedEnv({ DB_USERNAME: undefined, DB_PASSWORD: undefined, DB_PORT: "x" })).toEqual([
      `DB_PORT: expected a whole number (digits only), got "x"`,
      "DB_USERNAME: expected a value, got none",
      "DB_PASSWORD: expected a value, or DB_PASSWORD_FILE, or passwordProvider in code; got none"
    ])
  })

  it("validation lists every issue, in the table's order, with the checks across settings last", () => {
    const result = Settings.validate({
      ...input,
      writerHosts: ["db-1", "db-1:5432", ""],
      minPoolSize: 20,
      poolTimeout: 0,
      connectTimeout: Number.POSITIVE_INFINITY,
      statementTimeout: -1
    })
    expect(issues(result).map((i) => [i.key, i.variable, i.expected])).toEqual([
      ["poolTimeout", "DB_POOL_TIMEOUT", "a duration greater than 0, got 0"],
      ["connectTimeout", "DB_CONNECT_TIMEOUT_MS", "a finite duration, got Infinity"],
      ["statementTimeout", "DB_STATEMENT_TIMEOUT_MS", "a duration of 0 or more, got -1ms"],
      ["writerHosts", "DB_WRITER_HOST", "distinct entries; duplicate entry: db-1:5432"],
      ["writerHosts", "DB_WRITER_HOST", `host or host:port entries; malformed entry: "" is not host or host:port`],
      ["minPoolSize", "DB_MIN_POOL_SIZE", "at most DB_MAX_POOL_SIZE (10), got 20"]
    ])
  })

  it("needs at least one writer", () => {
    expect(issues(Settings.validate({ ...input, writerHosts: [] }))[0]?.expected).toBe("at least one host, got none")
  })

  it("a code-only setting is named by its key and passes through", () => {
    const types = { getTypeParser: () => (value: string) => value }
    expect(valid(Settings.validate({ ...input, types })).types).toBe(types)
    expect(Settings.variables.types).toBeUndefined()
  })

  describe("parseHost", () => {
    it("reads host, host:port and [v6]:port", () => {
      expect(Settings.parseHost("db", 5432)).toEqual({ host: "db", port: 5432 })
      expect(Settings.parseHost("db:6432", 5432)).toEqual({ host: "db", port: 6432 })
      expect(Settings.parseHost("[::1]:5433", 5432)).toEqual({ host: "::1", port: 5433 })
      expect(Settings.parseHost("[fe80::1]", 5432)).toEqual({ host: "fe80::1", port: 5432 })
    })
    it("says why an entry is malformed", () => {
      expect(Settings.parseHost("::1", 5432)).toBe(`"::1" is not host or host:port`)
      expect(Settings.parseHost("db:0", 5432)).toBe(`"db:0" has port 0, expected 1-65535`)
      expect(Settings.parseHost("db host", 5432)).toBe(`"db host" is not host or host:port`)
    })
    it("hostLabel brackets a v6 host", () => {
      expect(Settings.hostLabel({ host: "::1", port: 5432 })).toBe("[::1]:5432")
      expect(Settings.hostLabel({ host: "db", port: 5432 })).toBe("db:5432")
    })
  })

  it("the password is never printed", () => {
    const s = valid(Settings.fromEnv(env))
    for (const shown of [String(s.password), `${s.password}`, JSON.stringify(s), util.inspect(s, { depth: 10 })]) {
      expect(shown).not.toContain("w/rd")
    }
    expect(String(s.password)).toBe("<redacted>")
    expect(util.inspect(s.password)).toBe("<redacted>")
    expect(Object.keys(s.password)).toEqual([])
    expect(Connection.fromSettings(s).password()).toBe(PASSWORD)
    expect(JSON.stringify(Connection.fromSettings(s))).not.toContain("w/rd")
  })

  it("connectionOptions carries what every connection shares, in milliseconds", () => {
    const s = valid(Settings.validate({
      ...input,
      ssl: "require",
      keepAliveIdle: 12_000,
      statementTimeout: 250,
      statementTimeoutMode: "set"
    }))
    // Settings cannot import Connection (it comes later), so this is where the two types are held together.
    const options: Connection.ConnectionOptions = Connection.fromSettings(s)
    const { password, ...rest } = options
    expect(password()).toBe(PASSWORD)
    expect(rest).toEqual({
      username: "app",
      database: "postgres",
      applicationName: "pgfleet",
      ssl: "require",
      sslCa: undefined,
      keepAliveIdleMs: 12_000,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 250,
      statementTimeoutMode: "set",
      types: undefined
    })
  })

  it("SettingsError lists every issue by variable", () => {
    const result = Settings.fromEnv({ ...env, DB_PORT: "x", DB_SSL_MODE: "on" })
    const error = new Settings.SettingsError(issues(result))
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe("SettingsError")
    expect(error.message).toBe(
      "invalid settings:\n" +
        `  DB_PORT: expected a whole number (digits only), got "x"\n` +
        `  DB_SSL_MODE: expected one of disable, require, verify-full, got "on"`
    )
  })

  it("the table: every variable is DB_*, and the README table has a row per setting", () => {
    for (const [key, variable] of Object.entries(Settings.variables)) {
      if (variable !== undefined) expect(variable, key).toMatch(/^DB_[A-Z_]+$/)
    }
    const rows = Settings.markdownTable().split("\n")
    expect(rows).toHaveLength(2 + Object.keys(Settings.settings).length)
    expect(rows).toContain("| `DB_POOL_TIMEOUT` | `10` | " + Settings.settings.poolTimeout.description + " |")
    expect(rows).toContain("| `types` | none | " + Settings.settings.types.description + " |")
  })
})
