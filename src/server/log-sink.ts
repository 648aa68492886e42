// Where the server's log lines go. Every line is a message plus optional fields; the sink decides
// the format: `json` writes one object per line ({time, level, msg, ...fields}), for log
// shippers (Loki, CloudWatch, Elasticsearch); `text` writes the message alone, for a terminal.
// Callers that collect lines (tests) pass their own sink and receive the message and fields.
import type { LogFormat } from '../config/server-config.js';

export type LogFields = Readonly<Record<string, unknown>>;
export type LogSink = (message: string, fields?: LogFields) => void;
export type LogLevel = 'info' | 'error';

/** One log line in `format`; fields never overwrite time, level or msg. */
export function formatLogLine(format: LogFormat, level: LogLevel, message: string, fields?: LogFields, now = new Date()): string {
  if (format === 'text') return message;
  const record: Record<string, unknown> = { time: now.toISOString(), level, msg: message };
  for (const [key, value] of Object.entries(fields ?? {})) if (!(key in record) && value !== undefined) record[key] = value;
  return JSON.stringify(record);
}

/** A sink writing to stdout (info) or stderr (error) in `format`. */
export function consoleSink(format: LogFormat, level: LogLevel): LogSink {
  const write = level === 'error' ? (line: string) => console.error(line) : (line: string) => console.log(line);
  return (message, fields) => write(formatLogLine(format, level, message, fields));
}
