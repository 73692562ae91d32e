import { assert, describe, expect, it } from "vitest"
import { Failure, Settings } from "../src/index.js"

const pgError = (message: string, code: string) => Object.assign(new Error(message), { code })
const kindOf = (error: unknown) => Failure.classify(error).kind

describe("Failure.classify", () => {
  describe("SQLSTATE codes", () => {
    it("57P01, a terminated backend, is one lost connection", () => {
      expect(Failure.classify(pgError("terminating connection due to administrator command", "57P01"))).toEqual({
        kind: "connection-lost",
        code: "57P01"
      })
    })

    it("57P02 and 57P03 mean the server is crashing, shutting down or starting", () => {
      expect(Failure.classify(pgError("crash shutdown", "57P02"))).toEqual({
        kind: "server-unavailable",
        code: "57P02"
      })
      expect(Failure.classify(pgError("the database system is starting up", "57P03"))).toEqual({
        kind: "server-unavailable",
        code: "57P03"
      })
    })

    it("53300, too many connections, is overload", () => {
      expect(Failure.classify(pgError("sorry, too many clients already", "53300"))).toEqual({
        kind: "overload",
        code: "53300"
      })
    })

    it("3D000 is a misconfigured database", () => {
      expect(Failure.classify(pgError(`database "nope" does not exist`, "3D000"))).toEqual({
        kind: "misconfiguration",
        misconfigured: "database",
        code: "3D000"
      })
    })

    it("class 28 is authentication", () => {
      expect(Failure.classify(pgError("password authentication failed", "28P01"))).toEqual({
        kind: "misconfiguration",
        misconfigured: "authentication",
        code: "28P01"
      })
      expect(Failure.classify(pgError("no pg_hba.conf entry", "28000"))).toEqual({
        kind: "misconfiguration",
        misconfigured: "authentication",
        code: "28000"
      })
    })

    it("class 08 is a lost connection", () => {
      expect(Failure.classify(pgError("connection failure", "08006"))).toEqual({
        kind: "connection-lost",
        code: "08006"
      })
      assert.strictEqual(kindOf(pgError("connection exception", "08000")), "connection-lost")
    })

    it("an unknown code is a statement failure that keeps its code", () => {
      expect(Failure.classify(pgError("duplicate key value", "23505"))).toEqual({ kind: "statement", code: "23505" })
      expect(Failure.classify(pgError(`syntax error at or near "SELEC"`, "42601"))).toEqual({
        kind: "statement",
        code: "42601"
      })
    })
  })

  describe("socket codes", () => {
    it("refused, timed out and unresolved connections are unreachable", () => {
      for (const code of ["ECONNREFUSED", "ENOTFOUND", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]) {
        expect(Failure.classify(pgError(`connect ${code}`, code))).toEqual({ kind: "unreachable", code })
      }
    })

    it("a reset or broken socket is a lost connection", () => {
      for (const code of ["ECONNRESET", "EPIPE", "ECONNABORTED"]) {
        expect(Failure.classify(pgError(`read ${code}`, code))).toEqual({ kind: "connection-lost", code })
      }
    })

    it("TLS verification codes are a certificate misconfiguration", () => {
      for (
        const code of [
          "DEPTH_ZERO_SELF_SIGNED_CERT",
          "SELF_SIGNED_CERT_IN_CHAIN",
          "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
          "CERT_HAS_EXPIRED",
          "ERR_TLS_CERT_ALTNAME_INVALID"
        ]
      ) {
        expect(Failure.classify(pgError("certificate problem", code))).toEqual({
          kind: "misconfiguration",
          misconfigured: "certificate",
          code
        })
      }
    })
  })

  describe("pg's own messages, which carry no code", () => {
    it("a server without TLS", () => {
      const failure = Failure.classify(new Error("The server does not support SSL connections"))
      assert.strictEqual(failure.kind, "misconfiguration")
      assert.strictEqual(failure.misconfigured, "tls-not-offered")
      assert.strictEqual(failure.code, undefined)
    })

    it("pg-pool's wait for a free client is overload", () => {
      assert.strictEqual(kindOf(new Error("timeout exceeded when trying to connect")), "overload")
    })

    it("a connect timeout is unreachable, not a lost connection", () => {
      assert.strictEqual(kindOf(new Error("Connection terminated due to connection timeout")), "unreachable")
      assert.strictEqual(kindOf(new Error("timeout expired")), "unreachable")
      assert.strictEqual(kindOf(new Error("probe timed out")), "unreachable")
    })

    it("a connection ending under a client is lost", () => {
      assert.strictEqual(kindOf(new Error("Connection terminated unexpectedly")), "connection-lost")
      assert.strictEqual(
        kindOf(new Error("Client has encountered a connection error and is not queryable")),
        "connection-lost"
      )
      assert.strictEqual(kindOf(new Error("Connection closed")), "connection-lost")
    })

    it("any other message is a statement failure without a code", () => {
      expect(Failure.classify(new Error("something else went wrong"))).toEqual({ kind: "statement" })
      assert.isFalse("code" in Failure.classify(new Error("something else went wrong")))
    })
  })

  describe("cause chains", () => {
    it("finds the decisive code on a nested cause", () => {
      const error = new Error("query failed", {
        cause: new Error("wrapped", { cause: pgError("the database system is shutting down", "57P03") })
      })
      expect(Failure.classify(error)).toEqual({ kind: "server-unavailable", code: "57P03" })
    })

    it("an undecided outer code does not stop the search, and the first code is kept when none decides", () => {
      const decided = Object.assign(new Error("outer"), { code: "XX000", cause: pgError("reset", "ECONNRESET") })
      expect(Failure.classify(decided)).toEqual({ kind: "connection-lost", code: "ECONNRESET" })
      const undecided = Object.assign(new Error("outer"), { code: "23505", cause: pgError("inner", "42P01") })
      expect(Failure.classify(undecided)).toEqual({ kind: "statement", code: "23505" })
    })

    it("a message on a nested cause decides too", () => {
      const error = new Error("pool failed", { cause: new Error("timeout exceeded when trying to connect") })
      assert.strictEqual(kindOf(error), "overload")
    })

    it("effect 4's ConnectionError reason is a lost connection when nothing under it says more", () => {
      const reason = { _tag: "ConnectionError", message: "PgConnection: Failed to connect", cause: new Error("gone") }
      expect(Failure.classify({ _tag: "SqlError", cause: reason })).toEqual({ kind: "connection-lost" })
      // A code under it still decides, and a statement's own reason is not host evidence.
      const refused = { ...reason, cause: pgError("connect ECONNREFUSED", "ECONNREFUSED") }
      expect(Failure.classify({ _tag: "SqlError", cause: refused })).toEqual({
        kind: "unreachable",
        code: "ECONNREFUSED"
      })
      const syntax = { _tag: "SqlSyntaxError", message: "bad", cause: pgError("syntax error", "42601") }
      expect(Failure.classify({ _tag: "SqlError", cause: syntax })).toEqual({ kind: "statement", code: "42601" })
    })

    it("a cyclic cause chain ends", () => {
      const error: { message: string; cause?: unknown } = { message: "loop" }
      error.cause = error
      expect(Failure.classify(error)).toEqual({ kind: "statement" })
    })

    it("values that are not errors are statement failures", () => {
      expect(Failure.classify(undefined)).toEqual({ kind: "statement" })
      expect(Failure.classify(null)).toEqual({ kind: "statement" })
      expect(Failure.classify("boom")).toEqual({ kind: "statement" })
      expect(Failure.classify({ code: 57 })).toEqual({ kind: "statement" })
    })
  })

  describe("pgfleet's tagged errors", () => {
    it("a reason decides by itself", () => {
      expect(Failure.classify({ _tag: "PostgresError", reason: "AcquireTimeout" })).toEqual({ kind: "overload" })
      expect(Failure.classify({ _tag: "PostgresError", reason: "WrongRole" })).toEqual({
        kind: "misconfiguration",
        misconfigured: "role"
      })
      assert.strictEqual(kindOf({ _tag: "PostgresError", reason: "ConnectFailed" }), "unreachable")
      assert.strictEqual(kindOf({ _tag: "PostgresError", reason: "OutcomeUnknown" }), "connection-lost")
      assert.strictEqual(kindOf({ _tag: "PostgresError", reason: "SplitBrain" }), "misconfiguration")
    })

    it("the reason is read before the codes of its causes", () => {
      const error = { _tag: "PostgresError", reason: "AcquireTimeout", cause: pgError("reset", "ECONNRESET") }
      expect(Failure.classify(error)).toEqual({ kind: "overload" })
    })

    it("a tagged error nested as a cause is found", () => {
      const error = new Error("outer", { cause: { _tag: "PostgresError", reason: "AcquireTimeout" } })
      assert.strictEqual(kindOf(error), "overload")
    })

    it("another tag or an unknown reason falls through to the cause", () => {
      const otherTag = { _tag: "SqlError", reason: "AcquireTimeout", cause: pgError("terminated", "57P01") }
      expect(Failure.classify(otherTag)).toEqual({ kind: "connection-lost", code: "57P01" })
      const unknownReason = { _tag: "PostgresError", reason: "Whatever", cause: pgError("down", "57P02") }
      expect(Failure.classify(unknownReason)).toEqual({ kind: "server-unavailable", code: "57P02" })
    })
  })
})

describe("Failure.isHostEvidence", () => {
  it("only lost connections, unreachable hosts and unavailable servers make a host suspect", () => {
    const kinds: ReadonlyArray<readonly [Failure.Kind, boolean]> = [
      ["connection-lost", true],
      ["unreachable", true],
      ["server-unavailable", true],
      ["overload", false],
      ["misconfiguration", false],
      ["statement", false]
    ]
    for (const [kind, evidence] of kinds) assert.strictEqual(Failure.isHostEvidence(kind), evidence, kind)
  })

  it("agrees with classify", () => {
    assert.isTrue(Failure.isHostEvidence(kindOf(pgError("refused", "ECONNREFUSED"))))
    assert.isFalse(Failure.isHostEvidence(kindOf(pgError("too many", "53300"))))
  })
})

describe("Failure.describe", () => {
  it("gives the innermost message", () => {
    const error = new Error("outer", { cause: new Error("middle", { cause: new Error("innermost") }) })
    assert.strictEqual(Failure.describe(error), "innermost")
  })

  it("skips causes without a message", () => {
    const error = new Error("outer", { cause: { code: "ECONNRESET", cause: { message: "" } } })
    assert.strictEqual(Failure.describe(error), "outer")
  })

  it("says unknown error when nothing has a message", () => {
    assert.strictEqual(Failure.describe(undefined), "unknown error")
    assert.strictEqual(Failure.describe({ code: "57P01" }), "unknown error")
  })
})

describe("Failure.misconfigurationMessage", () => {
  const PASSWORD = "s3cr3t-Pa$$word"
  const context = { ssl: "verify-full", sslCaFile: undefined, database: "billing" }
  const host = "db-primary:5432"

  it("TLS not offered names DB_SSL_MODE and its value", () => {
    const message = Failure.misconfigurationMessage(
      "tls-not-offered",
      host,
      { ...context, ssl: "require" },
      new Error("The server does not support SSL connections")
    )
    assert.include(message, "DB_SSL_MODE=require")
    assert.include(message, "DB_SSL_MODE=disable")
    assert.include(message, host)
    assert.include(message, "The server does not support SSL connections")
  })

  it("a certificate names DB_SSL_CA_FILE, set or not", () => {
    const unset = Failure.misconfigurationMessage("certificate", host, context, new Error("self-signed certificate"))
    assert.include(unset, "DB_SSL_CA_FILE is not set")
    assert.include(unset, "self-signed certificate")
    const set = Failure.misconfigurationMessage(
      "certificate",
      host,
      { ...context, sslCaFile: "/etc/ca.pem" },
      new Error("unable to verify the first certificate")
    )
    assert.include(set, "DB_SSL_CA_FILE")
    assert.notInclude(set, "is not set")
    assert.include(set, "unable to verify the first certificate")
  })

  it("authentication names DB_USERNAME and DB_PASSWORD, never the password", () => {
    const message = Failure.misconfigurationMessage(
      "authentication",
      host,
      context,
      pgError(`password authentication failed for user "app"`, "28P01")
    )
    assert.include(message, "DB_USERNAME")
    assert.include(message, "DB_PASSWORD")
    assert.include(message, `password authentication failed for user "app"`)
    assert.notInclude(message, PASSWORD)
  })

  it("an unknown database names DB_NAME and the database", () => {
    const message = Failure.misconfigurationMessage(
      "database",
      host,
      context,
      new Error("wrapper", { cause: pgError(`database "billing" does not exist`, "3D000") })
    )
    assert.include(message, "DB_NAME")
    assert.include(message, `no database "billing"`)
    assert.include(message, `database "billing" does not exist`)
  })

  it("anything else is the host and the innermost message", () => {
    assert.strictEqual(
      Failure.misconfigurationMessage("role", host, context, new Error("outer", { cause: new Error("a standby") })),
      "db-primary:5432: a standby"
    )
    assert.strictEqual(
      Failure.misconfigurationMessage(undefined, host, context, new Error("odd")),
      "db-primary:5432: odd"
    )
  })

  it("no message contains the password, even given the whole settings as context", () => {
    const result = Settings.validate({ writerHosts: ["db-primary"], username: "app", password: PASSWORD })
    assert.strictEqual(result._tag, "Valid")
    if (result._tag !== "Valid") return
    for (const kind of ["tls-not-offered", "certificate", "authentication", "database", "role", undefined] as const) {
      const message = Failure.misconfigurationMessage(kind, host, result.settings, new Error("refused"))
      assert.notInclude(message, PASSWORD)
      assert.notInclude(message, "Pa$$")
    }
  })
})

describe("a tagged error whose reason is not pgfleet's", () => {
  it("falls through to its causes, even when the reason names an Object.prototype member", () => {
    for (const reason of ["toString", "constructor", "hasOwnProperty", "valueOf"]) {
      assert.deepStrictEqual(Failure.classify({ _tag: "PostgresError", reason }), { kind: "statement" })
    }
  })
})
