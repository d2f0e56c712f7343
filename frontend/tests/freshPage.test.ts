import { describe, expect, it } from 'vitest'

import { session } from '../src/session'

// The test files share one page (vite.config.ts); files that ran before this one signed
// people in, mounted pages, stored and navigated.
describe('a test file', () => {
  it('starts signed out, on an empty page at /, with nothing stored', () => {
    expect([session.user, session.keyId, session.started]).toEqual([null, null, false])
    expect(document.body.childElementCount).toBe(0)
    expect(window.location.pathname + window.location.search).toBe('/')
    expect(window.localStorage.length + window.sessionStorage.length).toBe(0)
  })
})
