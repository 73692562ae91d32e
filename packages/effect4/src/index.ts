/**
 * @since 0.1.0
 */
export * as HostPool from "./HostPool.js"

/**
 * @since 0.1.0
 */
export * as PostgresConfig from "./PostgresConfig.js"

/**
 * @since 0.1.0
 */
export * as PostgresError from "./PostgresError.js"

/**
 * @since 0.1.0
 */
export * as PostgresMetrics from "./PostgresMetrics.js"
