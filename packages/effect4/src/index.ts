/**
 * @since 0.1.0
 */
export * as HealthMonitor from "./HealthMonitor.js"

/**
 * @since 0.1.0
 */
export * as HostPool from "./HostPool.js"

/**
 * @since 0.1.0
 */
export * as Postgres from "./Postgres.js"

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

/**
 * @since 0.1.0
 */
export * as ReaderPools from "./ReaderPools.js"

/**
 * @since 0.1.0
 */
export * as ReaderRouter from "./ReaderRouter.js"

/**
 * @since 0.1.0
 */
export * as ReaderStrategy from "./ReaderStrategy.js"

/**
 * @since 0.1.0
 */
export * as StatementClassifier from "./StatementClassifier.js"

/**
 * @since 0.1.0
 */
export * as WriterPool from "./WriterPool.js"

export {
  /**
   * The fleet configured from the `DB_*` environment variables: `Postgres.PostgresLive`.
   *
   * @since 0.1.0
   * @category layers
   */
  PostgresLive
} from "./Postgres.js"
