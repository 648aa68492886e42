// Requests the HTTP layer refuses before any route sees them, answered like every other error
// ({error: {code, message}}) instead of Node's bare status line: a client too slow to send its
// headers or its whole request (server.headers_timeout_ms, server.request_timeout_ms: 408
// REQUEST_TIMEOUT; slowloris-style clients hold no socket longer than that), headers over
// Node's limit (431 HEADERS_TOO_LARGE), and bytes that are not HTTP (400 BAD_REQUEST).
import { STATUS_CODES, maxHeaderSize, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { hasCode } from '../errors.js';
import { BAD_REQUEST, HEADERS_TOO_LARGE, REQUEST_TIMEOUT, type HttpError } from './error-codes.js';

export interface ClientErrorOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Told of each refusal (metrics, log). */
  onRefused?: (error: HttpError, remoteAddress: string | undefined) => void;
}

export function answerClientErrors(server: Server, options: ClientErrorOptions): void {
  server.on('clientError', (err: Error, socket: Duplex) => {
    const code = hasCode(err) ? err.code : '';
    // A reset or a half-sent answer leaves nothing to say.
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const error =
      code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new REQUEST_TIMEOUT(`headers must arrive within ${options.headersTimeoutMs} ms (server.headers_timeout_ms) and the whole request within ${options.requestTimeoutMs} ms (server.request_timeout_ms)`)
        : code === 'HPE_HEADER_OVERFLOW'
          ? new HEADERS_TOO_LARGE(maxHeaderSize)
          : new BAD_REQUEST(`not a valid HTTP/1.1 request (${code || err.message})`);
    options.onRefused?.(error, (socket as Socket).remoteAddress);
    const body = JSON.stringify(error.toJSON());
    socket.end(
      `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    (socket as Socket).destroySoon();
  });
}
