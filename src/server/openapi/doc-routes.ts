// The routes that describe the server itself: the web page and the OpenAPI document.
export const DOC_ROUTES = { page: '/', asset: '/web/:asset', openapi: '/openapi.json' } as const;
