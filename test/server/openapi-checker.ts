// Checks real HTTP answers against an OpenAPI 3.0 document: finds the operation a concrete
// request matches, the response the document gives for its status, and validates the body
// against that response's JSON schema (ajv; OpenAPI 3.0's `nullable` is ajv's too). Used for
// protoserve's own /openapi.json and for the Open Inference Protocol's open_inference_rest.yaml.
import assert from 'node:assert/strict';

import { Ajv, type ValidateFunction } from 'ajv';
import { Validator } from '@seriousme/openapi-schema-validator';

type Doc = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };
type Response = { description?: string; content?: Record<string, { schema?: unknown }>; 'x-error-codes'?: string[] };

export interface Matched {
  /** The document's path key. */
  template: string;
  operation: { responses: Record<string, Response> } & Record<string, unknown>;
}

const pointer = (...parts: string[]) => '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Asserts that `doc` is a valid OpenAPI document (the OpenAPI Initiative's JSON schema). */
export async function assertValidOpenApi(doc: Record<string, unknown>): Promise<void> {
  const result = await new Validator().validate(structuredClone(doc));
  assert.ok(result.valid, `not a valid OpenAPI document: ${JSON.stringify(result.errors)?.slice(0, 2000)}`);
}

export class OpenApiChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: { regex: RegExp; template: string }[];

  /**
   * `alias` adds more concrete templates per document path (e.g. the protocol's versionless
   * forms); path parameters are written `{X}` (OpenAPI) or `${X}` (the protocol's document).
   */
  constructor(
    readonly doc: Doc,
    alias: (template: string) => string[] = () => [],
  ) {
    this.ajv.addSchema(doc, 'doc');
    this.routes = Object.keys(doc.paths).flatMap((template) =>
      [template, ...alias(template)].map((form) => {
        const source = form
          .replace(/\/$/, '')
          .split(/(\$?\{[^}]+\})/)
          .map((part) => (/^\$?\{/.test(part) ? '[^/]+' : part.replace(/[.*+?^()|[\]\\]/g, '\\$&')))
          .join('');
        return { regex: new RegExp(`^${source}/?$`), template };
      }),
    );
  }

  /** The document's operation for a concrete request (path without the query). */
  match(method: string, path: string): Matched | undefined {
    const m = method.toLowerCase();
    for (const { regex, template } of this.routes) {
      const operation = this.doc.paths[template][m] as Matched['operation'] | undefined;
      if (regex.test(path) && operation) return { template, operation };
    }
    return undefined;
  }

  /** The document's path templates a concrete path matches (any method). */
  pathsOf(path: string): string[] {
    return [...new Set(this.routes.filter(({ regex }) => regex.test(path)).map(({ template }) => template))];
  }

  /** Validates `body` against the schema at a JSON pointer into the document (`#/components/...`). */
  validate(schemaPointer: string, body: unknown, what = schemaPointer): void {
    let validate = this.compiled.get(schemaPointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `doc${schemaPointer}` });
      this.compiled.set(schemaPointer, validate);
    }
    assert.ok(validate(body), `${what}: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(body)?.slice(0, 600)}`);
  }

  /**
   * Asserts the document has the request's operation and a response for its status, and that a
   * JSON body matches the response's schema; answers the response object (its x-error-codes).
   */
  check(method: string, path: string, res: { status: number; body: unknown; headers: Record<string, unknown> }): Response {
    const found = this.match(method, path);
    assert.ok(found, `${method} ${path} is not in the document`);
    const { template, operation } = found;
    const response = operation.responses[String(res.status)];
    assert.ok(response, `${method} ${path} answered ${res.status}; the document (${template}) lists ${Object.keys(operation.responses).join(', ')}`);
    const json = response.content?.['application/json'];
    if (json?.schema && /application\/json/.test(String(res.headers['content-type']))) {
      this.validate(pointer('paths', template, method.toLowerCase(), 'responses', String(res.status), 'content', 'application/json', 'schema'), res.body, `${method} ${path} ${res.status}`);
    }
    return response;
  }
}
