// The Segment Tracking API's documented limits, which the ingest endpoint enforces as Segment does.

/** One message, as JSON: 32 KB. */
export const MAX_MESSAGE_BYTES = 32 * 1024;
/** One request body (after gzip is undone): 500 KB. */
export const MAX_REQUEST_BYTES = 500 * 1024;
/** Messages in one /v1/batch request. */
export const MAX_BATCH_MESSAGES = 2500;
/** messageId, the deduplication key. */
export const MAX_MESSAGE_ID_LENGTH = 100;
/**
 * Bytes read and discarded from an oversize body before the connection is cut: enough that a
 * client still writing a too-large batch reads our 400 instead of a reset.
 */
export const MAX_DRAIN_BYTES = 8 * MAX_REQUEST_BYTES;
