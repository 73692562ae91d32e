/**
 * `@pgfleet/postgres/telemetry`: a subpath of its own, so that only programs
 * that import it need the OpenTelemetry packages.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as PostgresTelemetry from "./PostgresTelemetry.js"
