/**
 * A password provider in core's terms: the Effect run on the default runtime for each call.
 */
import type { Settings } from "@pgfleet/core"
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"

/** A password provider in core's terms: the Effect run for each call; a failure rejects with its squashed cause. */
export const providerToCore = (provider: Effect.Effect<Redacted.Redacted, unknown>): Settings.PasswordProvider => () =>
  Runtime.runPromiseExit(Runtime.defaultRuntime)(provider).then((exit) => {
    if (Exit.isSuccess(exit)) return Redacted.value(exit.value) as string
    throw Cause.squash(exit.cause)
  })
