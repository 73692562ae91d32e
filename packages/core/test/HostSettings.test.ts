import { describe, expect, it } from "vitest"
import { Settings } from "../src/index.js"

const env = { DB_WRITER_HOST: "db-primary.internal", DB_USERNAME: "app", DB_PASSWORD: "x" }

const valid = (result: Settings.Validation): Settings.Settings => {
  if (result._tag === "Invalid") throw new Settings.SettingsError(result.issues)
  return result.settings
}
const rejected = (result: Settings.Validation) => {
  expect(result._tag).toBe("Invalid")
  return result._tag === "Invalid" ? result.issues.map((i) => `${i.variable}: expected ${i.expected}`) : []
}

describe("per-host settings", () => {
  it("reads ;weight=N and ;max=N after any host form, and leaves the others as plain addresses", () => {
    const s = valid(Settings.fromEnv({
      ...env,
      DB_WRITER_HOST: "db-primary.internal;max=30",
      DB_READER_HOSTS: "replica-a:6432;weight=3;max=20, replica-b ,[::1]:5433; max = 4 ;weight=2"
    }))
    expect(s.writer).toEqual({ host: "db-primary.internal", port: 5432, maxPoolSize: 30 })
    expect(s.readers).toEqual([
      { host: "replica-a", port: 6432, weight: 3, maxPoolSize: 20 },
      { host: "replica-b", port: 5432 },
      { host: "::1", port: 5433, weight: 2, maxPoolSize: 4 }
    ])
    expect(s.readers.map(Settings.weightOf)).toEqual([3, 1, 2])
    expect(s.readers.map((r) => Settings.maxPoolSizeOf(r, s))).toEqual([20, 10, 4])
    expect(Settings.maxPoolSizeOf(s.writer, s)).toBe(30)
  })

  it("takes hosts as objects in code", () => {
    const s = valid(Settings.validate({
      writerHosts: [{ host: "db-primary.internal", maxPoolSize: 30 }],
      readerHosts: [{ host: "replica-a", port: 6432, weight: 3 }, "replica-b;weight=1", { host: "::1" }],
      username: "app",
      password: "x"
    }))
    expect(s.writer).toEqual({ host: "db-primary.internal", port: 5432, maxPoolSize: 30 })
    expect(s.readers).toEqual([
      { host: "replica-a", port: 6432, weight: 3 },
      { host: "replica-b", port: 5432, weight: 1 },
      { host: "::1", port: 5432 }
    ])
  })

  it.each([
    [
      { DB_READER_HOSTS: "replica-a;weight=heavy" },
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: weight must be a whole number from 1 to 1000, got "heavy"`
    ],
    [
      { DB_READER_HOSTS: "replica-a,replica-b;weight=0" },
      "DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-b:5432: weight must be a whole number from 1 to 1000, got 0"
    ],
    [
      { DB_READER_HOSTS: "replica-a;weight=1e3" },
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: weight must be a whole number from 1 to 1000, got "1e3"`
    ],
    [
      { DB_READER_HOSTS: "replica-a;wieght=3" },
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: unknown option "wieght=3", expected weight=N or max=N`
    ],
    [
      { DB_READER_HOSTS: "replica-a;constructor=3" },
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: unknown option "constructor=3", expected weight=N or max=N`
    ],
    [
      { DB_READER_HOSTS: "replica-a;weight=2;weight=3" },
      "DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: weight given twice"
    ],
    [
      { DB_READER_HOSTS: "replica-a;max=1" },
      "DB_READER_HOSTS: expected each host's max at least DB_MIN_POOL_SIZE (2); replica-a:5432 has max=1"
    ],
    [
      { DB_WRITER_HOST: "db-1;weight=2" },
      "DB_WRITER_HOST: expected no weight on writer entries (weights share reads among DB_READER_HOSTS); db-1:5432 has weight=2"
    ],
    [
      { DB_READER_HOSTS: "replica-a;weight=3,replica-a:5432" },
      "DB_READER_HOSTS: expected distinct entries; duplicate entry: replica-a:5432"
    ]
  ])("rejects %j, naming the variable and the host", (overrides, expected) => {
    expect(rejected(Settings.fromEnv({ ...env, ...overrides }))).toEqual([expected])
  })

  it("rejects bad objects in code, naming the host", () => {
    const base = { writerHosts: ["db"], username: "app", password: "x" }
    expect(rejected(Settings.validate({ ...base, readerHosts: [{ host: "replica-a", weight: 2.5 }] }))).toEqual([
      "DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a:5432: weight must be a whole number from 1 to 1000, got 2.5"
    ])
    expect(rejected(Settings.validate({ ...base, readerHosts: [{ host: "replica-a", port: 0 }] }))).toEqual([
      "DB_READER_HOSTS: expected host or host:port entries; malformed entry: replica-a: port must be a whole number from 1 to 65535, got 0"
    ])
    expect(rejected(Settings.validate({ ...base, readerHosts: [{ host: " " }] }))).toEqual([
      `DB_READER_HOSTS: expected host or host:port entries; malformed entry: " " is not a host name or address`
    ])
  })
})
