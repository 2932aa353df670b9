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

// Overload bounds (Backflow's own, not Segment's): past them a request is answered 429 with
// Retry-After at once, storing nothing, so clients back off instead of timing out.

/** POST requests being read or waiting for their commit, per source (bodies up to 500 KB each). */
export const MAX_PENDING_REQUESTS = 256;
/** Events queued for the next group commit: ten full batches. */
export const MAX_PENDING_EVENTS = 10 * MAX_BATCH_MESSAGES;
/** What an overloaded endpoint tells clients to wait, in seconds. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 1;
