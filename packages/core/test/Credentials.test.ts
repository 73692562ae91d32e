import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import pg from "pg"
import { assert, describe, expect, it } from "vitest"
import { Connection, Credentials, Settings } from "../src/index.js"

const SECRET = "pw-Zq9!never-shown"
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-credentials-"))
const file = (name: string, text: string) => {
  const p = path.join(dir, name)
  fs.writeFileSync(p, text)
  return p
}
const base = { DB_WRITER_HOST: "db", DB_USERNAME: "app" }
const rejected = (result: Settings.Validation) => {
  expect(result._tag).toBe("Invalid")
  return result._tag === "Invalid" ? result.issues.map((i) => `${i.variable}: expected ${i.expected}`) : []
}

describe("Credentials.cached", () => {
  it("connections asking at once share one ask; the answer serves for cacheMs", async () => {
    let calls = 0
    const source = Credentials.cached(async () => `pw-${++calls}`, 60_000)
    assert.deepStrictEqual(await Promise.all([source.password(), source.password(), source.password()]), [
      "pw-1",
      "pw-1",
      "pw-1"
    ])
    assert.strictEqual(await source.password(), "pw-1")
    assert.strictEqual(source.latest(), "pw-1")
    assert.strictEqual(calls, 1)
  })

  it("with cacheMs 0 each new connection asks again", async () => {
    let calls = 0
    const source = Credentials.cached(async () => `pw-${++calls}`, 0)
    await source.password()
    await new Promise((r) => setTimeout(r, 2))
    assert.strictEqual(await source.password(), "pw-2")
  })

  it("a refused login bypasses the cache once, however many logins were refused together", async () => {
    let calls = 0
    const source = Credentials.cached(async () => `pw-${++calls}`, 60_000)
    const since = performance.now()
    await source.password()
    source.refused(since)
    source.refused(since)
    source.refused(since)
    assert.strictEqual(await source.password(), "pw-2")
    assert.strictEqual(await source.password(), "pw-2")
    // A later login, refused with the new password, asks again.
    source.refused(performance.now())
    assert.strictEqual(await source.password(), "pw-3")
  })

  it("a failed ask is not kept", async () => {
    let fail = true
    const source = Credentials.cached(async () => {
      if (fail) throw new Error("token service down")
      return "pw"
    }, 60_000)
    await expect(source.password()).rejects.toThrow("token service down")
    fail = false
    assert.strictEqual(await source.password(), "pw")
  })
})

describe("Credentials.fromFile", () => {
  it("reads the file for each new connection, without trailing line breaks", async () => {
    const p = file("rotating", `${SECRET}\r\n`)
    const source = Credentials.fromFile(p, 0)
    assert.strictEqual(await source.password(), SECRET)
    fs.writeFileSync(p, "next\n")
    await new Promise((r) => setTimeout(r, 2))
    assert.strictEqual(await source.password(), "next")
  })

  it("an unreadable or empty file fails naming the variable and the path, never the contents", async () => {
    await expect(Credentials.fromFile(path.join(dir, "missing"), 0).password()).rejects.toThrow(
      /^DB_PASSWORD_FILE: could not read .*missing: ENOENT/
    )
    await expect(Credentials.fromFile(file("empty", "\n"), 0, "ORDERS_DB_PASSWORD_FILE").password()).rejects.toThrow(
      /^ORDERS_DB_PASSWORD_FILE: .*empty is empty$/
    )
  })
})

describe("Credentials.fromProvider", () => {
  it("takes a string or a Secret; a failure or an empty answer fails the connection without the password", async () => {
    assert.strictEqual(await Credentials.fromProvider(() => new Settings.Secret(SECRET), 0).password(), SECRET)
    await expect(Credentials.fromProvider(async () => "", 0).password()).rejects.toThrow("gave no password")
    const failed = await Credentials.fromProvider(() => Promise.reject(new Error("IMDS timeout")), 0).password().then(
      () => undefined,
      (e: Error) => e
    )
    assert.strictEqual(failed?.message, "pgfleet: the password provider failed: IMDS timeout")
  })
})

describe("Credentials.isLoginRefused", () => {
  it("28P01 and 28000, anywhere in the cause chain; nothing else", () => {
    const err = (code: string) => Object.assign(new Error("x"), { code })
    assert.isTrue(Credentials.isLoginRefused(err("28P01")))
    assert.isTrue(Credentials.isLoginRefused(new Error("wrapped", { cause: err("28000") })))
    assert.isFalse(Credentials.isLoginRefused(err("57P01")))
    assert.isFalse(Credentials.isLoginRefused(undefined))
  })

  it("retryRefused tries once more after a refusal only, and not at all for a fixed password", async () => {
    const refused = Object.assign(new Error("password authentication failed"), { code: "28P01" })
    let calls = 0
    const source = Credentials.cached(async () => "pw", 60_000)
    await expect(Credentials.retryRefused(source, async () => {
      if (++calls === 1) throw refused
      return "connected"
    })).resolves.toBe("connected")
    assert.strictEqual(calls, 2)
    calls = 0
    await expect(Credentials.retryRefused(source, async () => {
      calls++
      throw refused
    })).rejects.toBe(refused)
    assert.strictEqual(calls, 2)
    calls = 0
    await expect(Credentials.retryRefused(undefined, async () => {
      calls++
      throw refused
    })).rejects.toBe(refused)
    assert.strictEqual(calls, 1)
  })
})

describe("password settings", () => {
  it("DB_PASSWORD_FILE: pg gets a function, so each new connection reads the file", async () => {
    const p = file("settings", `${SECRET}\n`)
    const result = Settings.fromEnv({ ...base, DB_PASSWORD_FILE: p })
    assert.strictEqual(result._tag, "Valid")
    if (result._tag !== "Valid") return
    const options = Connection.fromSettings(result.settings)
    const config = Connection.clientConfig(options, result.settings.writer)
    assert.isFunction(config.password)
    assert.strictEqual(await (config.password as () => Promise<string>)(), SECRET)
    // What a config prints holds no password.
    assert.notInclude(util.inspect(config), SECRET)
    assert.notInclude(JSON.stringify(config), SECRET)
    assert.strictEqual(options.password(), SECRET, "the one last read, for a connection URL")
    // pg takes it as it is.
    assert.isFunction(new pg.Pool(config).options.password)
  })

  it.each([
    [{}, "DB_PASSWORD: expected a value, or DB_PASSWORD_FILE, or passwordProvider in code; got none"],
    [
      { DB_PASSWORD: "x", DB_PASSWORD_FILE: "/run/secrets/db" },
      "DB_PASSWORD_FILE: expected one password source, got DB_PASSWORD and DB_PASSWORD_FILE"
    ],
    [
      { DB_PASSWORD_FILE: "/nonexistent/db-password" },
      "DB_PASSWORD_FILE: expected a readable file, could not read /nonexistent/db-password: ENOENT: no such file or directory, open '/nonexistent/db-password'"
    ],
    [
      { DB_PASSWORD_CACHE_SECONDS: "soon", DB_PASSWORD: "x" },
      `DB_PASSWORD_CACHE_SECONDS: expected a whole number (digits only), got "soon"`
    ]
  ])("rejects %j", (env, expected) => {
    expect(rejected(Settings.fromEnv({ ...base, ...env }))).toEqual([expected])
  })

  it("an empty password file is rejected before anything connects, without its contents", () => {
    expect(rejected(Settings.fromEnv({ ...base, DB_PASSWORD_FILE: file("blank", "\n\n") }))).toEqual([
      `DB_PASSWORD_FILE: expected a file holding the password, but ${path.join(dir, "blank")} is empty`
    ])
  })

  it("a provider in code, and not with DB_PASSWORD too", () => {
    const provider = async () => SECRET
    const ok = Settings.validate({ writerHosts: ["db"], username: "app", passwordProvider: provider })
    assert.strictEqual(ok._tag, "Valid")
    expect(
      rejected(Settings.validate({ writerHosts: ["db"], username: "app", password: "x", passwordProvider: provider }))
    )
      .toEqual(["passwordProvider: expected one password source, got DB_PASSWORD and passwordProvider"])
  })
})
