/**
 * @since 0.1.0
 */
export * as TestCluster from "./TestCluster.js"

export {
  /**
   * A cluster for scripts, as promises: `TestCluster.make` without Effect.
   *
   * @since 0.1.0
   * @category constructors
   */
  startTestCluster
} from "./TestCluster.js"

export {
  /**
   * A cluster's `DB_*` variables under a prefix (`ORDERS_DB_*`), for several fleets in one environment.
   *
   * @since 0.2.0
   * @category utils
   */
  envFor,
  /**
   * `PostgresLive` on a fresh cluster, with replica count and settings of your choice.
   *
   * @since 0.1.0
   * @category layers
   */
  layerTest,
  /**
   * `PostgresLive` on a fresh cluster of a writer and 2 replicas, plus `TestCluster.Cluster`.
   *
   * @since 0.1.0
   * @category layers
   */
  PostgresTest,
  /**
   * The pgfleet settings that reach a cluster.
   *
   * @since 0.1.0
   * @category utils
   */
  settingsFor
} from "./PostgresTest.js"

/**
 * @since 0.1.0
 */
export * as TcpProxy from "./TcpProxy.js"

export {
  /**
   * Polls an effect until it yields `true`: for waiting on real time without fixed sleeps.
   *
   * @since 0.1.0
   * @category utils
   */
  eventually
} from "./Eventually.js"

export {
  /**
   * Fibers that repeat one operation until told to stop, counting what failed.
   *
   * @since 0.1.0
   * @category utils
   */
  untilStopped
} from "./Load.js"
