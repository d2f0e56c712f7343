// A stand-in for the service in unit tests: answers fetch calls from a table of
// handlers and records every request it saw.
import { Api } from '../src/api'

export interface Seen {
  method: string
  path: string
  query: URLSearchParams
  headers: Record<string, string>
  body: unknown
}

type Handler = (request: Seen) => Response | Promise<Response>

export const ROOT = 'http://service.test/users/api/v1/'

export function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

export function error(status: number, code: string, message: string): Response {
  return json(status, { Code: code, Message: message })
}

/** One part of a JWT: base64url of the JSON's UTF-8, without padding. */
function jwtPart(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

export class FakeService {
  readonly seen: Seen[] = []
  readonly answers: { route: string; response: Response }[] = []
  readonly handlers = new Map<string, Handler>()
  cookies = '_csrf_token=csrf-from-cookie'
  now = 1_000_000
  tokens = 0
  /** The claims of the access tokens handed out, as the service signs them; null: opaque
   * tokens `token-<n>`. */
  tokenClaims: Record<string, unknown> | null = null

  constructor() {
    this.on('POST login/token', () => {
      this.tokens += 1
      return json(200, { token: this.token(), expires_in: 900 })
    })
  }

  /** The access tokens handed out, oldest first. */
  readonly issued: string[] = []

  private token(): string {
    const token =
      this.tokenClaims === null
        ? `token-${this.tokens}`
        : `${jwtPart({ alg: 'HS256', typ: 'at+jwt' })}.${jwtPart(this.tokenClaims)}.sig-${this.tokens}`
    this.issued.push(token)
    return token
  }

  on(route: string, handler: Handler): this {
    this.handlers.set(route, handler)
    return this
  }

  calls(route: string): Seen[] {
    return this.seen.filter((s) => `${s.method} ${s.path}` === route)
  }

  /** The routes whose answer came with a body that nobody read. */
  unread(): string[] {
    return this.answers
      .filter(({ response }) => response.body !== null && !response.bodyUsed)
      .map(({ route }) => route)
  }

  readonly fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input))
    const path = url.pathname.slice(new URL(ROOT).pathname.length)
    const seen: Seen = {
      method: init.method ?? 'GET',
      path,
      query: url.searchParams,
      headers: { ...(init.headers as Record<string, string> | undefined) },
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    }
    this.seen.push(seen)
    const route = `${seen.method} ${path}`
    const handler = this.handlers.get(route)
    const response = handler ? await handler(seen) : error(404, 'NotFound', `no route ${route}`)
    this.answers.push({ route, response })
    return response
  }

  api(): Api {
    return new Api(
      ROOT,
      this.fetch,
      () => this.cookies,
      () => this.now,
    )
  }
}
