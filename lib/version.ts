/** The package version, sent as `User-Agent: cloudiq-bootstrap/<version>`. */
export const VERSION = '0.1.0';
