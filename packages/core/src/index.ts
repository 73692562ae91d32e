/**
 * @since 0.2.0
 */
export * as Check from "./Check.js"

/**
 * @since 0.2.0
 */
export * as Connection from "./Connection.js"

/**
 * @since 0.2.0
 */
export * as Credentials from "./Credentials.js"

/**
 * @since 0.2.0
 */
export * as Election from "./Election.js"

/**
 * @since 0.2.0
 */
export * as Failure from "./Failure.js"

/**
 * @since 0.2.0
 */
export * as HostState from "./HostState.js"

/**
 * @since 0.2.0
 */
export * as Probe from "./Probe.js"

/**
 * @since 0.2.0
 */
export * as Members from "./Members.js"

/**
 * @since 0.2.0
 */
export * as PoolControl from "./PoolControl.js"

/**
 * @since 0.2.0
 */
export * as PooledQuery from "./PooledQuery.js"

/**
 * @since 0.2.0
 */
export * as ReaderPick from "./ReaderPick.js"

/**
 * @since 0.2.0
 */
export * as Routing from "./Routing.js"

/**
 * @since 0.2.0
 */
export * as Settings from "./Settings.js"

/**
 * @since 0.2.0
 */
export * as StatementClass from "./StatementClass.js"

/**
 * @since 0.2.0
 */
export * as StatementText from "./StatementText.js"
