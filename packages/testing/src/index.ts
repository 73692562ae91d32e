/**
 * @since 0.1.0
 */
export * as TestCluster from "./TestCluster.js"

/**
 * @since 0.1.0
 */
export { startTestCluster } from "./TestCluster.js"

/**
 * @since 0.1.0
 */
export { layerTest, PostgresTest, settingsFor } from "./PostgresTest.js"

/**
 * @since 0.1.0
 */
export * as TcpProxy from "./TcpProxy.js"

/**
 * @since 0.1.0
 */
export { eventually } from "./Eventually.js"

/**
 * @since 0.1.0
 */
export { untilStopped } from "./Load.js"
