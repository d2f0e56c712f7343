import { describe, expect, it } from 'vitest'

import { UnexpectedAnswer } from '../src/answers'
import { ApiError, apiRoot, claimOf, csrfCookieName, readCookie } from '../src/api'
import { error, FakeService, json } from './fakeService'

describe('apiRoot', () => {
  it('puts the API beside the page, under any path prefix', () => {
    expect(apiRoot('http://127.0.0.1:8000/')).toBe('http://127.0.0.1:8000/api/v1/')
    expect(apiRoot('https://example.org/users/#/profile')).toBe('https://example.org/users/api/v1/')
    expect(apiRoot('https://x.execute-api.eu-north-1.amazonaws.com/api/?login_error=a#/')).toBe(
      'https://x.execute-api.eu-north-1.amazonaws.com/api/api/v1/',
    )
  })
})

describe('readCookie', () => {
  it('finds one cookie among several', () => {
    expect(readCookie('a=1; _csrf_token=abc%3D; b=2', '_csrf_token')).toBe('abc=')
    expect(readCookie('a=1', '_csrf_token')).toBeNull()
  })

  it('counts a name sent twice, or a malformed value, as no cookie', () => {
    expect(readCookie('_csrf_token=mine; _csrf_token=tossed', '_csrf_token')).toBeNull()
    expect(readCookie('prefs={"a":1}; _csrf_token=%E0%A4%A', '_csrf_token')).toBeNull()
    expect(readCookie('prefs={"a":1}; lang=en GB; _csrf_token=ok', '_csrf_token')).toBe('ok')
  })
})

describe('csrfCookieName', () => {
  it('reads the __Host- name over HTTPS and the plain name over http', () => {
    expect(csrfCookieName('https://example.org/users/api/v1/')).toBe('__Host-_csrf_token')
    expect(csrfCookieName('http://127.0.0.1:8000/api/v1/')).toBe('_csrf_token')
  })
})

describe('Api.call', () => {
  it('gets an access token with the CSRF cookie first, then sends it as a bearer token', async () => {
    const service = new FakeService().on('GET user/me', () => json(200, { user: { id: 'u1' } }))
    const user = await service.api().me()
    expect(user.id).toBe('u1')
    expect(service.calls('POST login/token')[0].headers['X-CSRF-Token']).toBe('csrf-from-cookie')
    expect(service.calls('GET user/me')[0].headers.Authorization).toBe('Bearer token-1')
  })

  it('renews the token when a call answers 401, and retries once', async () => {
    const service = new FakeService()
    service.on('GET user/me', (req) =>
      req.headers.Authorization === 'Bearer token-2'
        ? json(200, { user: { id: 'u1' } })
        : error(401, 'InvalidCredentials', 'expired'),
    )
    const api = service.api()
    expect((await api.me()).id).toBe('u1')
    expect(service.calls('POST login/token')).toHaveLength(2)
    expect(service.calls('GET user/me')).toHaveLength(2)
  })

  it('reports an ended session when renewal after a 401 finds none', async () => {
    let ended = 0
    const service = new FakeService().on('GET user/me', () =>
      error(401, 'InvalidCredentials', 'session ended'),
    )
    const api = service.api()
    api.onSessionEnded = () => {
      ended += 1
    }
    await api.renew()
    service.on('POST login/token', () => error(401, 'InvalidCredentials', 'no session'))
    await expect(api.me()).rejects.toMatchObject({ status: 401 })
    expect(ended).toBe(1)
    expect(api.hasToken).toBe(false)
  })

  it('renews before a call when the token is about to expire', async () => {
    const service = new FakeService().on('GET user/me', () => json(200, { user: { id: 'u1' } }))
    const api = service.api()
    await api.me()
    await api.me()
    expect(service.tokens).toBe(1)
    service.now += 890_000
    await api.me()
    expect(service.tokens).toBe(2)
    expect(service.calls('GET user/me')[2].headers.Authorization).toBe('Bearer token-2')
  })

  it('shares one renewal between calls made at once', async () => {
    const service = new FakeService().on('GET user/me', () => json(200, { user: { id: 'u1' } }))
    const api = service.api()
    await Promise.all([api.me(), api.me(), api.me()])
    expect(service.tokens).toBe(1)
  })

  it('rejects with the service error body', async () => {
    const service = new FakeService().on('PATCH user/me', () =>
      error(400, 'InvalidInput', 'orcid: not a valid ORCID iD'),
    )
    const failure = await service
      .api()
      .updateMe({ orcid: 'x' })
      .catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(ApiError)
    expect(failure).toMatchObject({
      status: 400,
      code: 'InvalidInput',
      message: 'orcid: not a valid ORCID iD',
    })
  })

  it('keeps the status when the error body is not the service’s', async () => {
    const service = new FakeService().on(
      'GET user/me',
      () => new Response('<html>bad gateway</html>', { status: 502 }),
    )
    const failure = await service
      .api()
      .me()
      .catch((e: unknown) => e)
    expect(failure).toMatchObject({ status: 502, code: 'HTTP502' })
  })

  it('sends If-Match with a manager’s change and a JSON body', async () => {
    const service = new FakeService().on('PATCH user/u2', () => json(200, { user: { id: 'u2' } }))
    await service.api().updateUser('u2', { name: 'N' }, 7)
    const [patch] = service.calls('PATCH user/u2')
    expect(patch.headers['If-Match']).toBe('7')
    expect(patch.headers['Content-Type']).toBe('application/json')
    expect(patch.body).toEqual({ user: { name: 'N' } })
  })

  it('calls public routes without a token', async () => {
    const service = new FakeService().on('GET login/oidc', () =>
      json(200, { local: '/api/v1/login/oidc/local' }),
    )
    expect(await service.api().providers()).toEqual({ local: '/api/v1/login/oidc/local' })
    expect(service.calls('POST login/token')).toHaveLength(0)
    expect(service.calls('GET login/oidc')[0].headers.Authorization).toBeUndefined()
  })
})

describe('sessions', () => {
  it('asks GET /login/csrf for the token when the cookie is not readable', async () => {
    const service = new FakeService().on('GET login/csrf', () =>
      json(200, { csrf_token: 'from-endpoint' }),
    )
    service.cookies = ''
    expect(await service.api().renew()).toBe(true)
    expect(service.calls('POST login/token')[0].headers['X-CSRF-Token']).toBe('from-endpoint')
  })

  it('reports no session when /login/token answers 401', async () => {
    const service = new FakeService().on('POST login/token', () =>
      error(401, 'InvalidCredentials', 'no session'),
    )
    const api = service.api()
    expect(await api.renew()).toBe(false)
    expect(api.hasToken).toBe(false)
  })

  it('signs in with an API key, then holds an access token', async () => {
    const service = new FakeService().on('POST login/apikey', () => json(200, { expires: 'x' }))
    const api = service.api()
    await api.signInWithKey('uk_a.b.c')
    const [login] = service.calls('POST login/apikey')
    expect(login.body).toEqual({ 'api-key': 'uk_a.b.c' })
    expect(login.headers['X-CSRF-Token']).toBe('csrf-from-cookie')
    expect(api.hasToken).toBe(true)
  })

  it('refuses a bad API key with 401', async () => {
    const service = new FakeService().on('POST login/apikey', () =>
      error(401, 'InvalidCredentials', 'bad key'),
    )
    await expect(service.api().signInWithKey('nope')).rejects.toMatchObject({ status: 401 })
  })

  it('signs out with the CSRF token and forgets the access token', async () => {
    const service = new FakeService()
      .on('GET user/me', () => json(200, { user: { id: 'u1' } }))
      .on('POST logout', () => json(204))
    const api = service.api()
    await api.me()
    await api.signOut()
    expect(service.calls('POST logout')[0].headers['X-CSRF-Token']).toBe('csrf-from-cookie')
    expect(api.hasToken).toBe(false)
  })

  it('reads the session’s key id from the access token’s key claim', async () => {
    const service = new FakeService()
    const api = service.api()
    expect(api.sessionKeyId).toBeNull()
    service.tokenClaims = { sub: 'u1', sid: 's1', key: '00112233aabbccdd', name: 'Zoë ~?>' }
    await api.renew()
    expect(api.sessionKeyId).toBe('00112233aabbccdd')
    expect(claimOf(service.issued[0], 'name')).toBe('Zoë ~?>')
    service.tokenClaims = { sub: 'u1', sid: 's2' }
    await api.renew()
    expect(api.sessionKeyId).toBeNull()
  })

  it('finds no claim in what is not a JWT', () => {
    expect(claimOf('token-1', 'key')).toBeUndefined()
    expect(claimOf('a.%%%.c', 'key')).toBeUndefined()
    expect(claimOf(`a.${btoa('[1]')}.c`, 'key')).toBeUndefined()
    expect(claimOf(`a.${btoa('{"key": 7}')}.c`, 'key')).toBe(7)
  })

  it('keeps the access token out of web storage', async () => {
    const service = new FakeService().on('GET user/me', () => json(200, { user: { id: 'u1' } }))
    await service.api().me()
    expect(window.localStorage.length).toBe(0)
    expect(window.sessionStorage.length).toBe(0)
    expect(document.cookie).not.toContain('token-1')
  })
})

// A browser keeps the request of a no-store answer open until its body is read.
describe('answers nobody needs', () => {
  it('are read when /login/token finds no session', async () => {
    const service = new FakeService().on('POST login/token', () =>
      error(401, 'InvalidCredentials', 'no session'),
    )
    expect(await service.api().renew()).toBe(false)
    expect(service.unread()).toEqual([])
  })

  it('are read when a call is retried after renewing the token', async () => {
    const service = new FakeService()
    service.on('GET user/me', (req) =>
      req.headers.Authorization === 'Bearer token-2'
        ? json(200, { user: { id: 'u1' } })
        : error(401, 'InvalidCredentials', 'expired'),
    )
    expect((await service.api().me()).id).toBe('u1')
    expect(service.calls('GET user/me')).toHaveLength(2)
    expect(service.unread()).toEqual([])
  })

  it('are read when signing in with a key and signing out', async () => {
    const service = new FakeService()
      .on('POST login/apikey', () => json(200, { expires: 'x' }))
      .on('POST logout', () => json(200, {}))
    const api = service.api()
    await api.signInWithKey('uk_a.b.c')
    await api.signOut()
    expect(service.calls('POST logout')).toHaveLength(1)
    expect(service.unread()).toEqual([])
  })

  it('are read when GET /login/csrf fails but set the cookie', async () => {
    const service = new FakeService().on('GET login/csrf', () => {
      service.cookies = '_csrf_token=set-by-the-answer'
      return error(503, 'ServiceUnavailable', 'busy')
    })
    service.cookies = ''
    expect(await service.api().renew()).toBe(true)
    expect(service.calls('POST login/token')[0].headers['X-CSRF-Token']).toBe('set-by-the-answer')
    expect(service.unread()).toEqual([])
  })
})

describe('answers of another shape', () => {
  it('are refused, not typed as what they are not', async () => {
    const service = new FakeService()
      .on('GET user/me', () => json(200, { user: 'u1' }))
      .on('GET user', () => json(200, { users: [{ id: 'u1' }], next: 7 }))
    const api = service.api()
    await expect(api.me()).rejects.toThrow(UnexpectedAnswer)
    await expect(api.listUsers({})).rejects.toThrow(/no valid next/)
  })

  it('are read when they hold what the page needs', async () => {
    const service = new FakeService().on('GET user', () =>
      json(200, { users: [{ id: 'u1', email: 'a@example.org' }], next: null }),
    )
    expect(await service.api().listUsers({})).toEqual({
      items: [{ id: 'u1', email: 'a@example.org' }],
      next: null,
    })
  })
})
