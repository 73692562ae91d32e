/**
 * @since 0.2.0
 */
export * as Fleet from "./Fleet.js"

/**
 * @since 0.2.0
 */
export * as Legacy from "./Legacy.js"
