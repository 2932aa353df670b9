// The fixed set of reasons the ingest endpoint counts events by: a metrics label must never carry
// client-controlled text (a JSON parser's byte position, an origin, a size), or every bad client
// mints new time series. The full sentence still goes to the client and to the log.

export const INGEST_REASONS = [
  /** Accepted: a retried messageId, already stored. */
  'duplicate',
  'no_endpoint',
  'method_not_allowed',
  'unsupported_media_type',
  'cors_origin_not_listed',
  'missing_write_key',
  'unknown_write_key',
  'body_too_large',
  'unsupported_encoding',
  'invalid_gzip',
  'invalid_json',
  'not_an_object',
  'invalid_batch',
  'batch_too_large',
  'message_too_large',
  'invalid_message',
  'overloaded',
  'store_failed',
  'request_failed',
] as const;

export type IngestReason = (typeof INGEST_REASONS)[number];
