// The one module that speaks to the service: fetch, the access token (held in
// memory only), its renewal through POST /login/token, and the error body.
import type { components } from './generated/api'

import {
  answer,
  isApiKeyInfo,
  isListedUser,
  isLogEntry,
  isNumber,
  isPerson,
  isRecord,
  isString,
  isStringOrNull,
  isPermissionReasons,
  isUser,
  listOf,
  member,
  recordOf,
} from './answers'

// The API's shapes, generated at build time from the service's OpenAPI document
// (make: devtools/openapi_json.py, then openapi-typescript), never written by hand.
type Schemas = components['schemas']
export type User = Schemas['UserRecord']
export type ListedUser = Schemas['UserPage']['users'][number]
export type UserFields = Schemas['UserFields']
export type NewUserFields = Schemas['NewUserFields']
export type ApiKeyInfo = Schemas['ApiKeyInfo']
export type LogEntry = Schemas['Action'] & Partial<Pick<Schemas['LogEntry'], 'user' | 'data'>>
export type Permission = Schemas['Permission']
export type LoginError = Schemas['LoginError']
/** A permission a provider's rule granted at a login. */
export type RuleGrant = User['rule_permissions'][number]
/** Why a user has one effective permission (GET /user/{id}/permissions). */
export type PermissionReasons = Schemas['PermissionReasons']['permissions'][number]
/** A key as made: shown once. */
export type NewKey = Schemas['NewApiKeyWithExpiry']
export type RotatedKey = Schemas['RotatedApiKey']

export interface KeyRequest {
  name: string
  expiresInDays: number | null
  /** null: all of the owner's permissions, now and later. */
  permissions: string[] | null
  readOnly: boolean
}

/** How long a new key may live: the deployment's default and maximum, in days. */
export interface KeyDays {
  default: number | null
  maximum: number | null
}

/** A person a log page names: their current name (null when none) and whether they are gone. */
export type Person = Schemas['People'][string]

/** A page of a change log, with the people its entries name (`actors` or `records`). */
export interface LogPage extends Page<LogEntry> {
  people: Record<string, Person>
}

export interface Page<T> {
  items: T[]
  next: string | null
}

/** A refused call: the HTTP status and the service's `{"Code", "Message"}` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export const CSRF_COOKIE = '_csrf_token'

/** The name the CSRF cookie travels under for an API at `root`: over HTTPS the service
 * gives its cookies the `__Host-` prefix, which no other site on the domain can set. */
export function csrfCookieName(root: string): string {
  return new URL(root).protocol === 'https:' ? `__Host-${CSRF_COOKIE}` : CSRF_COOKIE
}
const RENEW_MARGIN_MS = 30_000

type Fetch = typeof fetch

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
  query?: Record<string, string | number | undefined | null>
  /** Send without the access token (public routes). */
  anonymous?: boolean
}

/** The API root for a page at `pageUrl`: `<directory of the page>/api/v1/`. */
export function apiRoot(pageUrl: string): string {
  return new URL('api/v1/', new URL('.', pageUrl)).href
}

/** The value of one cookie in a `document.cookie` string. */
export function readCookie(cookies: string, name: string): string | null {
  // Two cookies of one name are ambiguous; the service counts them as none, and so
  // does the page.
  const found: string[] = []
  for (const part of cookies.split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) found.push(rest.join('='))
  }
  if (found.length !== 1) return null
  try {
    return decodeURIComponent(found[0])
  } catch {
    return null
  }
}

/**
 * Read an answer's body to its end when nothing needs it. The API's answers are
 * `Cache-Control: no-store`, and a browser keeps the request of such an answer open
 * until its body is read: left unread, it holds the connection and the page never
 * settles.
 */
async function discard(response: Response): Promise<void> {
  try {
    await response.arrayBuffer()
  } catch {
    // already read, or the connection broke: either way nothing is left open
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = `HTTP${response.status}`
  let message = response.statusText || `the service answered ${response.status}`
  try {
    const body: unknown = await response.json()
    if (isRecord(body) && isString(body.Code)) code = body.Code
    if (isRecord(body) && isString(body.Message)) message = body.Message
  } catch {
    // not the service's error body (a gateway page, say): keep the status line
  }
  return new ApiError(response.status, code, message)
}

/**
 * One claim of a JWT's payload, read without checking the signature: what the page
 * shows with it must never decide what anyone may do (the service decides that).
 * Undefined when the token is not a JWT.
 */
export function claimOf(token: string, name: string): unknown {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const binary = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    const claims: unknown = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))),
    )
    return isRecord(claims) ? claims[name] : undefined
  } catch {
    return undefined
  }
}

/** A new key's answer (made or rotated): the key itself, shown this once. */
function newKey(body: unknown): NewKey {
  return {
    key: member(body, 'key', isString),
    id: member(body, 'id', isString),
    expires: member(body, 'expires', isString),
  }
}

export class Api {
  private token: string | null = null
  private expiresAt = 0
  private renewing: Promise<boolean> | null = null
  /** Called when a call finds the session over (signed out elsewhere, expired, deleted). */
  onSessionEnded: () => void = () => {}

  constructor(
    readonly root: string,
    private readonly fetcher: Fetch = (...args) => fetch(...args),
    private readonly cookies: () => string = () => document.cookie,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Whether an access token is held. */
  get hasToken(): boolean {
    return this.token !== null
  }

  /** The id (not the secret) of the API key the session was made with: the access
   * token's `key` claim; null in a session made by a provider's sign-in, or without one. */
  get sessionKeyId(): string | null {
    const key = this.token === null ? undefined : claimOf(this.token, 'key')
    return isString(key) ? key : null
  }

  /** The CSRF token: the `_csrf_token` cookie, else what GET /login/csrf hands out. */
  async csrfToken(): Promise<string> {
    const fromCookie = readCookie(this.cookies(), csrfCookieName(this.root))
    if (fromCookie) return fromCookie
    const response = await this.fetcher(this.url('login/csrf'), { credentials: 'same-origin' })
    if (response.ok) {
      const body: unknown = await response.json()
      if (isRecord(body) && isString(body.csrf_token) && body.csrf_token) return body.csrf_token
    } else {
      await discard(response)
    }
    // Any answer of the service sets the cookie on a browser that has none.
    const again = readCookie(this.cookies(), csrfCookieName(this.root))
    if (again) return again
    throw new ApiError(403, 'CsrfTokenMismatch', 'The page could not get a CSRF token.')
  }

  /**
   * Exchange the session cookie for a new access token. False when there is no
   * session (signed out); other failures raise ApiError.
   */
  renew(): Promise<boolean> {
    this.renewing ??= this.exchange().finally(() => {
      this.renewing = null
    })
    return this.renewing
  }

  private async exchange(): Promise<boolean> {
    const response = await this.fetcher(this.url('login/token'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': await this.csrfToken() },
    })
    if (response.status === 401) {
      await discard(response)
      this.forget()
      return false
    }
    if (!response.ok) throw await errorOf(response)
    const body: unknown = await response.json()
    this.token = member(body, 'token', isString)
    this.expiresAt = this.now() + member(body, 'expires_in', isNumber) * 1000
    return true
  }

  /** Drop the access token (the session cookie stays until signOut). */
  forget(): void {
    this.token = null
    this.expiresAt = 0
  }

  /** Start a session with an API key. */
  async signInWithKey(key: string): Promise<void> {
    const response = await this.fetcher(this.url('login/apikey'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': await this.csrfToken() },
      body: JSON.stringify({ 'api-key': key }),
    })
    if (!response.ok) throw await errorOf(response)
    await discard(response)
    this.forget()
    if (!(await this.renew())) throw new ApiError(401, 'InvalidCredentials', 'No session began.')
  }

  /** End the session on the service and forget the token. */
  async signOut(): Promise<void> {
    const response = await this.fetcher(this.url('logout'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': await this.csrfToken() },
    })
    this.forget()
    if (!response.ok) throw await errorOf(response)
    await discard(response)
  }

  /**
   * Call the API; renews the access token when it is about to expire or a call
   * answers 401, once. Resolves to the JSON body (undefined for 204), unchecked:
   * the route methods below check what they read of it. Rejects with ApiError.
   */
  async call(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    if (
      !options.anonymous &&
      (this.token === null || this.now() > this.expiresAt - RENEW_MARGIN_MS)
    ) {
      await this.renew()
    }
    let response = await this.send(method, path, options)
    if (response.status === 401 && !options.anonymous) {
      if (await this.renew()) {
        await discard(response)
        response = await this.send(method, path, options)
      } else {
        this.onSessionEnded()
      }
    }
    if (!response.ok) throw await errorOf(response)
    if (response.status === 204) return undefined
    const body: unknown = await response.json()
    return body
  }

  get(path: string, options?: RequestOptions): Promise<unknown> {
    return this.call('GET', path, options)
  }

  private send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers }
    if (!options.anonymous && this.token) headers.Authorization = `Bearer ${this.token}`
    let body: string | undefined
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    return this.fetcher(this.url(path, options.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
    })
  }

  url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(path, this.root)
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '')
        url.searchParams.set(name, String(value))
    }
    return url.href
  }

  // The service's routes, in its own words.

  me(): Promise<User> {
    return this.get('user/me').then((r) => member(r, 'user', isUser))
  }

  updateMe(fields: UserFields): Promise<User> {
    return this.call('PATCH', 'user/me', { body: { user: fields } }).then((r) =>
      member(r, 'user', isUser),
    )
  }

  providers(): Promise<Record<string, string>> {
    return this.get('login/oidc', { anonymous: true }).then((r) =>
      answer(r, recordOf(isString), 'providers'),
    )
  }

  permissionNames(): Promise<string[]> {
    return this.get('user/permissions', { anonymous: true }).then((r) =>
      member(r, 'permissions', listOf(isString)),
    )
  }

  openapi(): Promise<Record<string, unknown>> {
    return this.get('openapi.json', { anonymous: true }).then((r) =>
      answer(r, isRecord, 'document'),
    )
  }

  /** What each permission lets its holder do, from the OpenAPI document's `Permission`. */
  async permissionDescriptions(): Promise<Record<string, string>> {
    const doc = (await this.openapi()) as {
      components?: {
        schemas?: { Permission?: { oneOf?: { const?: string; description?: string }[] } }
      }
    }
    const described: Record<string, string> = {}
    for (const choice of doc.components?.schemas?.Permission?.oneOf ?? []) {
      if (choice.const && choice.description) described[choice.const] = choice.description
    }
    return described
  }

  explainPermissions(userId: string): Promise<PermissionReasons[]> {
    return this.get(`user/${encodeURIComponent(userId)}/permissions`).then((r) =>
      member(r, 'permissions', listOf(isPermissionReasons)),
    )
  }

  unlinkIdentity(userId: string, identity: string): Promise<void> {
    return this.call(
      'DELETE',
      `user/${encodeURIComponent(userId)}/identities/${encodeURIComponent(identity)}`,
    ).then(() => undefined)
  }

  listUsers(query: {
    email?: string
    q?: string
    cursor?: string | null
    limit?: number
    suspended?: 'true'
  }): Promise<Page<ListedUser>> {
    return this.get('user', { query }).then((r) => ({
      items: member(r, 'users', listOf(isListedUser)),
      next: member(r, 'next', isStringOrNull),
    }))
  }

  createUser(fields: NewUserFields, idempotencyKey: string): Promise<string> {
    return this.call('POST', 'user', {
      body: { user: fields },
      headers: { 'Idempotency-Key': idempotencyKey },
    }).then((r) => member(r, 'id', isString))
  }

  getUser(id: string): Promise<User> {
    return this.get(`user/${encodeURIComponent(id)}`).then((r) => member(r, 'user', isUser))
  }

  updateUser(id: string, fields: UserFields, version: number): Promise<User> {
    return this.call('PATCH', `user/${encodeURIComponent(id)}`, {
      body: { user: fields },
      headers: { 'If-Match': String(version) },
    }).then((r) => member(r, 'user', isUser))
  }

  deleteUser(id: string, version: number): Promise<void> {
    return this.call('DELETE', `user/${encodeURIComponent(id)}`, {
      headers: { 'If-Match': String(version) },
    }).then(() => undefined)
  }

  /** Erase the caller's own account; needs a recent provider sign-in (else 403 RecentLoginRequired). */
  deleteMe(version: number): Promise<void> {
    return this.call('DELETE', 'user/me', { headers: { 'If-Match': String(version) } }).then(
      () => undefined,
    )
  }

  /** Everything the service holds about a user (`me` for oneself), as its export document. */
  exportUser(id: string): Promise<Record<string, unknown>> {
    return this.get(id === 'me' ? 'user/me/export' : `user/${encodeURIComponent(id)}/export`).then(
      (r) => answer(r, isRecord, 'export'),
    )
  }

  listApiKeys(userId: string): Promise<ApiKeyInfo[]> {
    return this.get(`user/${encodeURIComponent(userId)}/apikeys`).then((r) =>
      member(r, 'apikeys', listOf(isApiKeyInfo)),
    )
  }

  createApiKey(userId: string, request: KeyRequest): Promise<NewKey> {
    const body: Record<string, unknown> = {}
    if (request.name) body.name = request.name
    if (request.expiresInDays !== null) body.expires_in_days = request.expiresInDays
    if (request.permissions !== null) body.permissions = request.permissions
    if (request.readOnly) body.read_only = true
    return this.call('POST', `user/${encodeURIComponent(userId)}/apikeys`, { body }).then(newKey)
  }

  rotateApiKey(userId: string, keyId: string): Promise<RotatedKey> {
    return this.call(
      'POST',
      `user/${encodeURIComponent(userId)}/apikeys/${encodeURIComponent(keyId)}/rotate`,
      {
        body: {},
      },
    ).then((r) => ({ ...newKey(r), old_key_expires: member(r, 'old_key_expires', isString) }))
  }

  /** The deployment's key lifetimes, as the OpenAPI document states them. */
  async keyDays(): Promise<KeyDays> {
    let found: unknown = await this.openapi()
    for (const name of ['components', 'schemas', 'ApiKeyRequest', 'properties', 'expires_in_days'])
      found = isRecord(found) ? found[name] : undefined
    const days = isRecord(found) ? found : {}
    const whole = (value: unknown) => (isNumber(value) ? value : null)
    return { default: whole(days.default), maximum: whole(days.maximum) }
  }

  revokeApiKey(userId: string, keyId: string): Promise<void> {
    return this.call(
      'DELETE',
      `user/${encodeURIComponent(userId)}/apikeys/${encodeURIComponent(keyId)}`,
    ).then(() => undefined)
  }

  history(
    userId: string,
    kind: 'log' | 'actions',
    cursor: string | null,
    order: 'asc' | 'desc' = 'asc',
  ): Promise<LogPage> {
    return this.get(`user/${encodeURIComponent(userId)}/${kind}`, {
      query: { cursor, limit: 20, order },
    }).then((r) => ({
      items: member(r, 'logs', listOf(isLogEntry)),
      next: member(r, 'next', isStringOrNull),
      people: member(r, kind === 'log' ? 'actors' : 'records', recordOf(isPerson)),
    }))
  }
}

let shared: Api | null = null

/** The page's one Api, rooted beside the page itself. */
export function api(): Api {
  shared ??= new Api(apiRoot(window.location.href))
  return shared
}

/** Use `instance` as the page's Api (tests hand in one with their own fetch). */
export function provideApi(instance: Api): void {
  shared = instance
}
