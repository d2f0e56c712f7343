import { describe, expect, it } from 'vitest'

import document from '../src/generated/openapi.json'

import { changedFields, filledFields, newIdempotencyKey } from '../src/forms'
import { describe as describeEntry } from '../src/history'
import { loginErrorMessage } from '../src/loginErrors'
import { operations } from '../src/openapi'
import { logEntry, userRecord } from './records'

describe('loginErrorMessage', () => {
  it('says what happened and what to do for each code the service sends', () => {
    for (const code of document.components.schemas.LoginError.enum) {
      const message = loginErrorMessage(code)
      expect(message).not.toContain(code)
      expect(message.split('. ').length).toBeGreaterThan(1)
    }
    expect(loginErrorMessage('email_in_use')).toMatch(/already exists/)
  })

  it('still explains a code it does not know', () => {
    expect(loginErrorMessage('new_code')).toMatch(/sign-in failed \(new_code\)/)
  })
})

describe('history entries', () => {
  const base = { id: 'l1', entry_id: 'me' }

  it('name the actor, the action and the changed fields', () => {
    const text = describeEntry(
      logEntry({ ...base, action: 'edit', user: 'me', data: { name: 'New', permissions: ['USER_ADD'], version: 3 } }),
      'me',
    )
    expect(text.who).toBe('you')
    expect(text.what).toBe('changed your record')
    expect(text.fields).toEqual([
      ['name', 'New'],
      ['permissions', 'USER_ADD'],
    ])
  })

  it('say when the service or another user acted, with the comment', () => {
    expect(describeEntry(logEntry({ ...base, action: 'add', user: 'system', data: {} }), 'me').who).toBe('the service')
    const other = describeEntry(
      logEntry({ ...base, entry_id: 'u9', action: 'edit', user: 'u2', comment: 'API key revoked' }),
      'me',
    )
    expect(other.who).toBe('user u2')
    expect(other.what).toBe('changed the record of user u9 (API key revoked)')
  })
})

describe('form helpers', () => {
  it('send only what changed', () => {
    const user = userRecord({ id: 'u', email: 'a@x.org', name: 'A', orcid: '', permissions: ['USER_ADD', 'DATA_EDIT'] })
    expect(
      changedFields(user, { email: 'a@x.org', name: 'B', orcid: '', url: '', permissions: ['DATA_EDIT', 'USER_ADD'] }),
    ).toEqual({ name: 'B' })
    expect(changedFields(user, { permissions: ['DATA_EDIT'] })).toEqual({ permissions: ['DATA_EDIT'] })
  })

  it('leave out empty fields of a new record', () => {
    expect(filledFields({ email: 'a@x.org', name: '', permissions: [] })).toEqual({ email: 'a@x.org' })
  })

  it('make a fresh 128-bit idempotency key each time', () => {
    const key = newIdempotencyKey()
    expect(key).toMatch(/^[0-9a-f]{32}$/)
    expect(newIdempotencyKey()).not.toBe(key)
  })
})

describe('operations', () => {
  // The service's own document, as the build generated it.
  const ops = operations(document as unknown as Record<string, unknown>)
  const find = (id: string) => ops.find((op) => op.id === id)!

  it('say who may call each operation, from its declared permission and that permission\'s description', () => {
    expect(find('update_user').who).toMatch(/^Signed in.*; needs USER_MANAGEMENT \(lets its holder read and edit every user/)
    expect(find('list_api_keys').who).toMatch(/needs the user themself, or USER_MANAGEMENT/)
    expect(find('get_me').who).toMatch(/^Signed in \(.*\)\.$/)
    expect(find('list_login_types').who).toBe('Anyone, no credentials needed.')
  })

  it('show parameters, the body with every reference resolved, and the operation\'s own answers', () => {
    const patch = find('update_user')
    expect(patch.method).toBe('PATCH')
    expect(patch.parameters.map((p) => `${p.where}:${p.name}:${p.required}`)).toEqual([
      'path:user_id:true',
      'header:If-Match:false',
    ])
    expect(patch.body).toMatch(/^Required: \{\n {2}"title": "UserBody"/)
    expect(patch.body).toContain('"title": "UserFields"')
    expect(patch.body).not.toContain('$ref')
    expect(patch.answers.map((a) => a.status)).toContain('412')
    expect(patch.answers.find((a) => a.status === '412')!.description).toContain('VersionMismatch')
    expect(find('list_login_types').answers.map((a) => a.status)).toEqual(['200'])
    for (const op of ops) for (const answer of op.answers) expect(answer.description).not.toMatch(/[`*]/)
  })
})
