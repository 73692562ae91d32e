import * as net from "node:net"
import { assert, describe, expect, it } from "vitest"
import { Check } from "../src/index.js"

const PASSWORD = "Hunter2-very-secret"

/** A local port nothing listens on: bound, noted, then closed. */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const assertNoPassword = (report: Check.Report) => {
  assert.notInclude(Check.render(report), PASSWORD)
  assert.notInclude(JSON.stringify(report), PASSWORD)
  assert.notInclude(Check.render(report), "Hunter2")
  assert.notInclude(JSON.stringify(report), "Hunter2")
}

describe("Check.check", () => {
  it("an invalid setting is misconfigured, exit 2, naming the variable", async () => {
    const report = await Check.check({
      DB_WRITER_HOST: "db",
      DB_USERNAME: "app",
      DB_PASSWORD: PASSWORD,
      DB_POOL_TIMEOUT: "soon"
    })
    assert.strictEqual(report.status, "misconfigured")
    assert.strictEqual(report.exitCode, 2)
    assert.deepStrictEqual(report.hosts, [])
    assert.strictEqual(report.problems.length, 1)
    assert.include(report.problems[0], `DB_POOL_TIMEOUT: expected a whole number (digits only), got "soon"`)
    assertNoPassword(report)
  })

  it("a missing variable is named, and every issue is reported", async () => {
    const report = await Check.check({ DB_WRITER_HOST: "db", DB_PASSWORD: PASSWORD, DB_SSL_MODE: "on" })
    assert.strictEqual(report.status, "misconfigured")
    assert.strictEqual(report.exitCode, 2)
    assert.include(report.problems[0], "DB_USERNAME: expected a value, got none")
    assert.include(report.problems[0], `DB_SSL_MODE: expected one of disable, require, verify-full, got "on"`)
    assertNoPassword(report)
  })

  it("a setting rejected after parsing is named too", async () => {
    const report = await Check.check({
      DB_WRITER_HOST: "db",
      DB_USERNAME: "app",
      DB_PASSWORD: PASSWORD,
      DB_PORT: "70000"
    })
    assert.strictEqual(report.status, "misconfigured")
    assert.include(report.problems[0], "DB_PORT: expected a number from 1 to 65535, got 70000")
    assertNoPassword(report)
  })

  it("an unreachable writer makes the fleet unusable, exit 2", async () => {
    const port = await closedPort()
    const report = await Check.check({
      DB_WRITER_HOST: `127.0.0.1:${port}`,
      DB_USERNAME: "app",
      DB_PASSWORD: PASSWORD,
      DB_CONNECT_TIMEOUT_MS: "500",
      DB_HEALTH_CHECK_TIMEOUT_MS: "500"
    })
    assert.strictEqual(report.status, "unusable")
    assert.strictEqual(report.exitCode, 2)
    assert.strictEqual(report.hosts.length, 1)
    const [host] = report.hosts
    expect(host).toMatchObject({
      host: `127.0.0.1:${port}`,
      expectedRole: "primary",
      observedRole: undefined,
      reachable: false,
      tls: undefined,
      serverVersion: undefined,
      lagBytes: undefined,
      lagSeconds: undefined,
      probeMs: undefined,
      statementTimeout: undefined
    })
    assert.match(host!.error!, /ECONNREFUSED/)
    assert.strictEqual(report.problems.length, 1)
    assert.strictEqual(report.problems[0], `127.0.0.1:${port} is unreachable: ${host!.error}`)
    assertNoPassword(report)

    const text = Check.render(report)
    const lines = text.split("\n")
    assert.match(
      lines[0]!,
      /^host\s+expected\s+observed\s+reachable\s+tls\s+version\s+lag bytes\s+lag s\s+probe ms\s+statement timeout$/
    )
    assert.match(lines[1]!, /^-+( +-+)+$/)
    assert.match(lines[2]!, new RegExp(`^127\\.0\\.0\\.1:${port}\\s+primary\\s+-\\s+no\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-$`))
    assert.include(lines, "unusable (exit 2)")
    assert.include(lines, `- 127.0.0.1:${port} is unreachable: ${host!.error}`)
  })

  it("writer candidates none of which answers: no primary, and each is unreachable", async () => {
    const [a, b, r] = [await closedPort(), await closedPort(), await closedPort()]
    const report = await Check.check({
      DB_WRITER_HOST: `127.0.0.1:${a},127.0.0.1:${b}`,
      DB_READER_HOSTS: `127.0.0.1:${r}`,
      DB_USERNAME: "app",
      DB_PASSWORD: PASSWORD,
      DB_CONNECT_TIMEOUT_MS: "500",
      DB_HEALTH_CHECK_TIMEOUT_MS: "500"
    })
    assert.strictEqual(report.status, "unusable")
    assert.strictEqual(report.exitCode, 2)
    assert.deepStrictEqual(
      report.hosts.map((h) => [h.host, h.expectedRole, h.reachable]),
      [
        [`127.0.0.1:${a}`, "candidate", false],
        [`127.0.0.1:${b}`, "candidate", false],
        [`127.0.0.1:${r}`, "standby", false]
      ]
    )
    assert.strictEqual(report.problems[0], "no DB_WRITER_HOST candidate is a primary")
    assert.include(report.problems[1], `127.0.0.1:${a} is unreachable`)
    assert.include(report.problems[2], `127.0.0.1:${b} is unreachable`)
    assert.include(report.problems[3], `127.0.0.1:${r} is unreachable`)
    assert.strictEqual(report.problems.length, 4)
    assertNoPassword(report)
  })
})

describe("Check.render", () => {
  const host = (overrides: Partial<Check.HostReport>): Check.HostReport => ({
    host: "db:5432",
    expectedRole: "primary",
    observedRole: "primary",
    reachable: true,
    tls: false,
    serverVersion: "17.2",
    lagBytes: undefined,
    lagSeconds: undefined,
    probeMs: 3.4,
    statementTimeout: "5s",
    error: undefined,
    ...overrides
  })

  it("prints a table of hosts, then the status and problems", () => {
    const text = Check.render({
      status: "degraded",
      exitCode: 1,
      problems: ["replica-1:5432 lags 12 s, more than DB_READER_MAX_LAG_MS"],
      hosts: [
        host({}),
        host({
          host: "replica-1:5432",
          expectedRole: "standby",
          observedRole: "standby",
          tls: true,
          lagBytes: 1024,
          lagSeconds: 12,
          probeMs: 10.5
        })
      ]
    })
    assert.strictEqual(
      text,
      [
        "host            expected  observed  reachable  tls  version  lag bytes  lag s  probe ms  statement timeout",
        "--------------  --------  --------  ---------  ---  -------  ---------  -----  --------  -----------------",
        "db:5432         primary   primary   yes        no   17.2     -          -      3.4       5s",
        "replica-1:5432  standby   standby   yes        yes  17.2     1024       12     10.5      5s",
        "",
        "degraded (exit 1)",
        "- replica-1:5432 lags 12 s, more than DB_READER_MAX_LAG_MS"
      ].join("\n")
    )
  })

  it("prints no table when there are no hosts", () => {
    assert.strictEqual(
      Check.render({ status: "misconfigured", exitCode: 2, problems: ["DB_WRITER_HOST: expected a value"], hosts: [] }),
      "\nmisconfigured (exit 2)\n- DB_WRITER_HOST: expected a value"
    )
  })

  it("a healthy report has no problem lines", () => {
    const lines = Check.render({ status: "healthy", exitCode: 0, problems: [], hosts: [host({})] }).split("\n")
    assert.strictEqual(lines.at(-1), "healthy (exit 0)")
    assert.strictEqual(lines.length, 5)
  })
})
