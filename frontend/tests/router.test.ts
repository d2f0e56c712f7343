import { afterEach, describe, expect, it } from 'vitest'

import { destination, router, safeNext, signInPage } from '../src/router'
import { providerAddress, session } from '../src/session'
import { userRecord } from './records'

const ME = userRecord({ id: 'me' })
// The service's check of a login's origin (chalicelib/identity/oidc.py, ORIGIN_CHARS):
// printable ASCII without space or backslash, else the browser lands on `/` instead.
const ORIGIN_THE_SERVICE_KEEPS = /^\/(?!\/)[\x21-\x5b\x5d-\x7e]{0,1999}$/

function go(path: string) {
  return destination(router.resolve(path))
}

/** Where the service sends the browser back to after a provider's sign-in that began on
 * the sign-in page at `signInAddress`, as the page's router reads it; with `error`, the
 * way a failure lands (the service appends `login_error` to the origin's query). */
function landing(signInAddress: string, error?: string): string {
  const back = router.resolve(signInAddress).fullPath
  const link = new URL(
    providerAddress('/users/api/v1/login/oidc/local', back, 'https://example.org/users/'),
  )
  const origin = link.searchParams.get('origin') ?? ''
  expect(origin).toMatch(ORIGIN_THE_SERVICE_KEEPS)
  const fragment = origin.slice(origin.indexOf('#') + 1)
  if (!error) return fragment
  return `${fragment}${fragment.includes('?') ? '&' : '?'}login_error=${error}`
}

afterEach(() => {
  session.user = null
})

describe('a deep link while signed out', () => {
  it('goes to sign in, with the page asked for in the address', () => {
    expect(go('/keys')).toEqual({ path: '/', query: { next: '/keys' } })
    expect(go('/users/u1?tab=history')).toEqual({
      path: '/',
      query: { next: '/users/u1?tab=history' },
    })
  })

  it('lets pages open to everyone open', () => {
    expect(go('/api')).toBe(true)
    expect(go('/?next=%2Fkeys')).toBe(true)
  })

  it('comes back from a provider’s sign-in to the page asked for', () => {
    for (const asked of ['/keys', '/users/u1?tab=a b', '/users/é?x=1&y=2']) {
      const signIn = router.resolve(go(asked) as ReturnType<typeof signInPage>).fullPath
      session.user = ME
      const expected = router.resolve(asked).fullPath
      expect(go(landing(signIn))).toBe(expected)
      session.user = null
    }
  })

  it('keeps the page asked for on the sign-in page when the sign-in failed there', () => {
    const back = landing('/?next=%2Fkeys', 'provider_error')
    const landed = router.resolve(back)
    expect(landed.path).toBe('/')
    expect(landed.query).toEqual({ next: '/keys', login_error: 'provider_error' })
    expect(go(back)).toBe(true)
  })
})

describe('after sign-in', () => {
  it('goes to the page asked for, or the profile', () => {
    session.user = ME
    expect(go('/?next=%2Fkeys')).toBe('/keys')
    expect(go('/')).toBe('/profile')
    expect(go('/?next=%2F')).toBe('/profile')
    expect(go('/keys')).toBe(true)
  })

  it('never follows `next` off this UI', () => {
    session.user = ME
    for (const next of ['//evil.example', 'https://evil.example/', 'javascript:alert(1)']) {
      expect(go(`/?next=${encodeURIComponent(next)}`)).toBe('/profile')
    }
    expect(go('/?next=a&next=b')).toBe('/profile')
  })
})

describe('safeNext and signInPage', () => {
  it('take paths of this UI only', () => {
    expect(safeNext('/keys')).toBe('/keys')
    expect(safeNext('//evil.example')).toBeNull()
    expect(safeNext(['/keys'])).toBeNull()
    expect(signInPage('/keys')).toEqual({ path: '/', query: { next: '/keys' } })
    expect(signInPage('')).toEqual({ path: '/', query: {} })
    expect(signInPage('https://evil.example/')).toEqual({ path: '/', query: {} })
  })
})
