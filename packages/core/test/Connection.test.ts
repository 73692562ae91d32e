import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import type pg from "pg"
import { assert, describe, expect, it } from "vitest"
import { Connection, Settings } from "../src/index.js"
import { CA_PEM } from "./fixtures.js"

const PASSWORD = "p@ss:w/rd#?%&= ü"
const CA = "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"

const options = (overrides: Partial<Connection.ConnectionOptions> = {}): Connection.ConnectionOptions => ({
  username: "app",
  password: () => PASSWORD,
  database: "billing",
  applicationName: "billing-api",
  ssl: "disable",
  sslCa: undefined,
  keepAliveIdleMs: 30_000,
  connectTimeoutMs: 5_000,
  statementTimeoutMs: 0,
  statementTimeoutMode: "startup",
  types: undefined,
  ...overrides
})
const address = { host: "db-replica-1", port: 6432 }

describe("Connection.clientConfig", () => {
  it("maps every option to pg's field", () => {
    expect(Connection.clientConfig(options(), address)).toStrictEqual({
      host: "db-replica-1",
      port: 6432,
      user: "app",
      password: PASSWORD,
      database: "billing",
      application_name: "billing-api",
      ssl: false,
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
      connectionTimeoutMillis: 5_000
    })
  })

  it("reads the password when the config is built", () => {
    let current = "first"
    const opts = options({ password: () => current })
    assert.strictEqual(Connection.clientConfig(opts, address).password, "first")
    current = "second"
    assert.strictEqual(Connection.clientConfig(opts, address).password, "second")
  })

  it("maps each TLS mode", () => {
    assert.strictEqual(Connection.clientConfig(options({ ssl: "disable" }), address).ssl, false)
    assert.deepStrictEqual(Connection.clientConfig(options({ ssl: "require" }), address).ssl, {
      rejectUnauthorized: false
    })
    assert.deepStrictEqual(Connection.clientConfig(options({ ssl: "verify-full" }), address).ssl, {
      rejectUnauthorized: true
    })
    assert.deepStrictEqual(Connection.clientConfig(options({ ssl: "verify-full", sslCa: CA }), address).ssl, {
      rejectUnauthorized: true,
      ca: CA
    })
  })

  it("sends statement_timeout in the startup packet only in startup mode and only when above 0", () => {
    const startup = Connection.clientConfig(options({ statementTimeoutMs: 1500 }), address)
    assert.strictEqual(startup.statement_timeout, 1500)
    const set = Connection.clientConfig(
      options({ statementTimeoutMs: 1500, statementTimeoutMode: "set" }),
      address
    )
    assert.isFalse("statement_timeout" in set)
    const none = Connection.clientConfig(options({ statementTimeoutMs: 0 }), address)
    assert.isFalse("statement_timeout" in none)
    const verify = Connection.clientConfig(
      options({ statementTimeoutMs: 1500, statementTimeoutMode: "verify" }),
      address
    )
    assert.isFalse("statement_timeout" in verify)
  })

  it("verify mode: a statement_timeout other than the configured one is named with host, expected and seen", () => {
    const verify = options({ statementTimeoutMs: 5000, statementTimeoutMode: "verify" })
    assert.isUndefined(Connection.statementTimeoutMismatch(verify, "b:6432", { ms: 5000, shown: "5s" }))
    const message = Connection.statementTimeoutMismatch(verify, "b:6432", { ms: 0, shown: "0" })
    assert.include(message, "b:6432 runs statements under statement_timeout 0 (0 ms), expected 5000 ms")
    assert.include(message, "DB_STATEMENT_TIMEOUT_MS with DB_STATEMENT_TIMEOUT_MODE=verify")
    assert.include(message, `ALTER ROLE "app" SET statement_timeout = 5000`)
    assert.notInclude(message, PASSWORD)
    // Expecting none is a value too: a server-side timeout where none is wanted is named.
    const none = options({ statementTimeoutMs: 0, statementTimeoutMode: "verify" })
    assert.include(Connection.statementTimeoutMismatch(none, "b:6432", { ms: 3000, shown: "3s" }), "expected 0 ms")
    // The other modes set the value themselves: nothing to verify.
    for (const statementTimeoutMode of ["startup", "set"] as const) {
      assert.isUndefined(
        Connection.statementTimeoutMismatch(
          options({ statementTimeoutMs: 5000, statementTimeoutMode }),
          "b:6432",
          { ms: 0, shown: "0" }
        )
      )
    }
  })

  it("keeps connections alive after the configured idle time", () => {
    const config = Connection.clientConfig(options({ keepAliveIdleMs: 12_000 }), address)
    assert.strictEqual(config.keepAlive, true)
    assert.strictEqual(config.keepAliveInitialDelayMillis, 12_000)
  })

  it("passes type parsers only when given", () => {
    const types: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value }
    assert.strictEqual(Connection.clientConfig(options({ types }), address).types, types)
    assert.isFalse("types" in Connection.clientConfig(options(), address))
  })

  it("keeps the password out of every field but password", () => {
    const config = Connection.clientConfig(
      options({ ssl: "verify-full", sslCa: CA, statementTimeoutMs: 100 }),
      address
    )
    for (const [key, value] of Object.entries(config)) {
      if (key === "password") continue
      assert.notInclude(JSON.stringify(value) ?? "", "p@ss", key)
      assert.notInclude(String(value), "p@ss", key)
    }
  })
})

describe("Connection.connectionUrl", () => {
  const percentEncodedBytes = (value: string) =>
    [...Buffer.from(value, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("")

  it("percent-encodes every byte of user, password and database", () => {
    const url = Connection.connectionUrl(options({ username: "app" }), address)
    assert.strictEqual(
      url,
      `postgresql://%61%70%70:${percentEncodedBytes(PASSWORD)}@db-replica-1:6432/${
        percentEncodedBytes("billing")
      }?application_name=billing-api`
    )
    assert.include(url, "%C3%BC")
    assert.notInclude(url, PASSWORD)
  })

  it("round-trips any character through a URL parser", () => {
    const username = "us:er@x/ü"
    const database = "my db/ü?#"
    const url = new URL(Connection.connectionUrl(options({ username, database }), address))
    assert.strictEqual(url.protocol, "postgresql:")
    assert.strictEqual(decodeURIComponent(url.username), username)
    assert.strictEqual(decodeURIComponent(url.password), PASSWORD)
    assert.strictEqual(decodeURIComponent(url.pathname.slice(1)), database)
    assert.strictEqual(url.hostname, "db-replica-1")
    assert.strictEqual(url.port, "6432")
    assert.strictEqual(url.searchParams.get("application_name"), "billing-api")
  })

  it("encodes the application name as a query value", () => {
    const url = new URL(Connection.connectionUrl(options({ applicationName: "a&b=c d" }), address))
    assert.strictEqual(url.searchParams.get("application_name"), "a&b=c d")
    assert.deepStrictEqual([...url.searchParams.keys()], ["application_name"])
  })

  it("brackets an IPv6 host", () => {
    const text = Connection.connectionUrl(options(), { host: "::1", port: 5432 })
    assert.include(text, "@[::1]:5432/")
    const url = new URL(text)
    assert.strictEqual(url.hostname, "[::1]")
    assert.strictEqual(url.port, "5432")
  })

  it("adds sslmode unless TLS is disabled", () => {
    assert.isNull(new URL(Connection.connectionUrl(options({ ssl: "disable" }), address)).searchParams.get("sslmode"))
    assert.strictEqual(
      new URL(Connection.connectionUrl(options({ ssl: "require" }), address)).searchParams.get("sslmode"),
      "require"
    )
    assert.strictEqual(
      new URL(Connection.connectionUrl(options({ ssl: "verify-full" }), address)).searchParams.get("sslmode"),
      "verify-full"
    )
  })
})

describe("Connection.fromSettings", () => {
  const valid = (input: Settings.SettingsInput): Settings.Settings => {
    const result = Settings.validate(input)
    if (result._tag === "Invalid") throw new Settings.SettingsError(result.issues)
    return result.settings
  }

  it("takes milliseconds and every connection setting", () => {
    const settings = valid({
      writerHosts: ["db"],
      username: "app",
      password: PASSWORD,
      database: "billing",
      applicationName: "billing-api",
      ssl: "require",
      keepAliveIdle: 15_000,
      connectTimeout: 2_500,
      statementTimeout: 750,
      statementTimeoutMode: "set"
    })
    const opts = Connection.fromSettings(settings)
    assert.strictEqual(opts.username, "app")
    assert.strictEqual(opts.database, "billing")
    assert.strictEqual(opts.applicationName, "billing-api")
    assert.strictEqual(opts.ssl, "require")
    assert.strictEqual(opts.sslCa, undefined)
    assert.strictEqual(opts.keepAliveIdleMs, 15_000)
    assert.strictEqual(opts.connectTimeoutMs, 2_500)
    assert.strictEqual(opts.statementTimeoutMs, 750)
    assert.strictEqual(opts.statementTimeoutMode, "set")
    assert.strictEqual(opts.types, undefined)
  })

  it("converts the defaults, given in seconds, to milliseconds", () => {
    const opts = Connection.fromSettings(valid({ writerHosts: ["db"], username: "app", password: PASSWORD }))
    assert.strictEqual(opts.keepAliveIdleMs, 30_000)
    assert.strictEqual(opts.connectTimeoutMs, 5_000)
    assert.strictEqual(opts.statementTimeoutMs, 0)
    assert.strictEqual(opts.database, "postgres")
    assert.strictEqual(opts.ssl, "disable")
  })

  it("gives the password as a function, so the options never print it", () => {
    const opts = Connection.fromSettings(valid({ writerHosts: ["db"], username: "app", password: PASSWORD }))
    assert.strictEqual(typeof opts.password, "function")
    assert.strictEqual(opts.password(), PASSWORD)
    assert.notInclude(JSON.stringify(opts), "p@ss")
    assert.notInclude(util.inspect(opts, { depth: 5 }), "p@ss")
  })

  it("carries the CA of verify-full and the type parsers", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-connection-"))
    const pem = CA_PEM
    const caFile = path.join(dir, "ca.pem")
    fs.writeFileSync(caFile, pem)
    const types: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value }
    const settings = valid({
      writerHosts: ["db"],
      username: "app",
      password: PASSWORD,
      ssl: "verify-full",
      sslCaFile: caFile,
      types
    })
    const opts = Connection.fromSettings(settings)
    assert.strictEqual(opts.sslCa, pem)
    assert.strictEqual(opts.types, types)
    const config = Connection.clientConfig(opts, settings.writer)
    assert.deepStrictEqual(config.ssl, { rejectUnauthorized: true, ca: pem })
    assert.strictEqual(config.types, types)
    assert.strictEqual(config.host, "db")
    assert.strictEqual(config.port, 5432)
    assert.strictEqual(config.password, PASSWORD)
  })
})

interface Received {
  readonly port: () => number
  readonly connections: () => number
  readonly packet: Promise<Buffer>
  readonly close: () => Promise<void>
}

/** A server that records the first 16 bytes sent to it, then closes that connection as PostgreSQL does. */
const recorder = (listen: (server: net.Server) => void): Promise<Received> =>
  new Promise((resolve, reject) => {
    let connections = 0
    let deliver: (packet: Buffer) => void = () => {}
    const packet = new Promise<Buffer>((r) => (deliver = r))
    const server = net.createServer((socket) => {
      connections++
      let data = Buffer.alloc(0)
      socket.on("error", () => {})
      socket.on("data", (chunk) => {
        data = Buffer.concat([data, chunk])
        if (data.length >= 16) {
          deliver(data)
          socket.end()
        }
      })
    })
    server.on("error", reject)
    server.on("listening", () =>
      resolve({
        port: () => (server.address() as net.AddressInfo).port,
        connections: () => connections,
        packet,
        close: () => new Promise((done) => server.close(() => done()))
      }))
    listen(server)
  })

const running = (processID: number, secretKey: number) => ({ processID, secretKey }) as unknown as pg.ClientBase

describe("Connection.sendCancel", () => {
  it("sends PostgreSQL's 16-byte CancelRequest to the host", async () => {
    const server = await recorder((s) => s.listen(0, "127.0.0.1"))
    const port = server.port()
    try {
      Connection.sendCancel({ host: "127.0.0.1", port, connectionTimeoutMillis: 2000 }, running(4242, -123456789))
      const packet = await server.packet
      assert.strictEqual(packet.length, 16)
      assert.strictEqual(packet.readInt32BE(0), 16)
      assert.strictEqual(packet.readInt32BE(4), 80877102)
      assert.strictEqual(packet.readInt32BE(8), 4242)
      assert.strictEqual(packet.readInt32BE(12), -123456789)
    } finally {
      await server.close()
    }
  })

  it("sends nothing for a client without a backend key", async () => {
    const server = await recorder((s) => s.listen(0, "127.0.0.1"))
    const port = server.port()
    try {
      const options = { host: "127.0.0.1", port, connectionTimeoutMillis: 2000 }
      Connection.sendCancel(options, {} as pg.ClientBase)
      Connection.sendCancel(options, { processID: 7 } as unknown as pg.ClientBase)
      Connection.sendCancel(options, running(99, 1))
      const packet = await server.packet
      assert.strictEqual(packet.readInt32BE(8), 99)
      // Only the request with a key opened a connection.
      assert.strictEqual(server.connections(), 1)
    } finally {
      await server.close()
    }
  })

  it("reaches a Unix socket directory as libpq names it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-cancel-"))
    const server = await recorder((s) => s.listen(path.join(dir, ".s.PGSQL.5439")))
    try {
      Connection.sendCancel({ host: dir, port: 5439, connectionTimeoutMillis: 2000 }, running(1234, 5678))
      const packet = await server.packet
      assert.strictEqual(packet.length, 16)
      assert.strictEqual(packet.readInt32BE(4), 80877102)
      assert.strictEqual(packet.readInt32BE(8), 1234)
      assert.strictEqual(packet.readInt32BE(12), 5678)
    } finally {
      await server.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
