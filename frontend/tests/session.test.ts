import { afterEach, describe, expect, it } from 'vitest'

import { provideApi } from '../src/api'
import {
  providerAddress,
  refresh,
  session,
  signInWithKey,
  signOut,
  endedElsewhere,
} from '../src/session'
import { FakeService, json } from './fakeService'
import { userRecord } from './records'

const ME = userRecord({ id: 'me' })

function signedInService(claims: Record<string, unknown> | null): FakeService {
  const service = new FakeService()
    .on('POST login/apikey', () => json(200, { expires: '2026-01-01T12:00:00Z' }))
    .on('GET user/me', () => json(200, { user: ME }))
    .on('POST logout', () => json(204))
  service.tokenClaims = claims
  provideApi(service.api())
  return service
}

function webStorage(): number[] {
  return [window.localStorage.length, window.sessionStorage.length]
}

afterEach(() => {
  session.user = null
  session.keyId = null
})

describe("the session's API key", () => {
  it('is the access token’s key claim after signing in with a key', async () => {
    signedInService({ sub: 'me', sid: 's1', key: '0123456789abcdef' })
    await signInWithKey('uk_0123.0123456789abcdef.secret')
    expect(session.keyId).toBe('0123456789abcdef')
    expect(webStorage()).toEqual([0, 0])
  })

  it('is learnt again when the page loads, from the session’s new access token', async () => {
    signedInService({ sub: 'me', sid: 's1', key: '0123456789abcdef' })
    await refresh()
    expect(session.user?.id).toBe('me')
    expect(session.keyId).toBe('0123456789abcdef')
  })

  it('is none in a session a provider’s sign-in made, and none once signed out', async () => {
    signedInService({ sub: 'me', sid: 's1' })
    await refresh()
    expect(session.user?.id).toBe('me')
    expect(session.keyId).toBeNull()

    signedInService({ sub: 'me', sid: 's2', key: 'fedcba9876543210' })
    await signInWithKey('uk_0123.fedcba9876543210.secret')
    await signOut()
    expect([session.user, session.keyId]).toEqual([null, null])
    expect(webStorage()).toEqual([0, 0])
  })

  it('is forgotten when the session ends elsewhere', async () => {
    signedInService({ sub: 'me', sid: 's1', key: '0123456789abcdef' })
    await refresh()
    endedElsewhere()
    expect(session.keyId).toBeNull()
  })
})

describe('providerAddress', () => {
  const page = 'https://example.org/users/#/?next=%2Fkeys'

  it('asks the service to come back to a page of this UI, in the fragment', () => {
    const address = new URL(providerAddress('api/v1/login/oidc/local', '/?next=%2Fkeys', page))
    expect(address.origin + address.pathname).toBe(
      'https://example.org/users/api/v1/login/oidc/local',
    )
    expect(address.searchParams.get('origin')).toBe('/users/#/?next=%2Fkeys')
    expect(address.searchParams.has('link')).toBe(false)
  })

  it('links instead of signing in when asked, keeping the link’s own path', () => {
    const address = new URL(
      providerAddress('/users/api/v1/login/oidc/local', '/profile', page, true),
    )
    expect(address.pathname).toBe('/users/api/v1/login/oidc/local')
    expect(address.searchParams.get('link')).toBe('1')
    expect(address.searchParams.get('origin')).toBe('/users/#/profile')
  })

  it('comes back to the first page when told anything but a path', () => {
    for (const back of ['https://evil.example/', 'javascript:alert(1)', '']) {
      const address = new URL(providerAddress('/api/v1/login/oidc/local', back, page))
      expect(address.searchParams.get('origin')).toBe('/users/#/')
    }
  })
})
