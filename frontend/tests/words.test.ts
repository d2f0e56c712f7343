import { describe, expect, it } from 'vitest'

import { changedFields, filledFields, newIdempotencyKey } from '../src/forms'
import { describe as describeEntry } from '../src/history'
import { loginErrorMessage } from '../src/loginErrors'
import { operations } from '../src/openapi'

describe('loginErrorMessage', () => {
  it('says what happened and what to do for each code the service sends', () => {
    for (const code of [
      'invalid_state',
      'provider_error',
      'provider_unavailable',
      'invalid_issuer',
      'token_exchange_failed',
      'invalid_id_token',
      'email_missing',
      'email_in_use',
      'invalid_profile',
    ]) {
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
  const base = { id: 'l1', entry_id: 'me', timestamp: '2026-01-01T00:00:00Z' }

  it('name the actor, the action and the changed fields', () => {
    const text = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'me',
        data: { name: 'New', permissions: ['USER_ADD'], version: 3 },
      },
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
    expect(describeEntry({ ...base, action: 'add', user: 'system', data: {} }, 'me').who).toBe(
      'the service',
    )
    const other = describeEntry(
      { ...base, entry_id: 'u9', action: 'edit', user: 'u2', comment: 'API key revoked' },
      'me',
    )
    expect(other.who).toBe('user u2')
    expect(other.what).toBe('changed the record of user u9 (API key revoked)')
  })
})

describe('form helpers', () => {
  it('send only what changed', () => {
    const user = {
      id: 'u',
      email: 'a@x.org',
      name: 'A',
      orcid: '',
      permissions: ['USER_ADD', 'DATA_EDIT'],
    }
    expect(
      changedFields(user, {
        email: 'a@x.org',
        name: 'B',
        orcid: '',
        url: '',
        permissions: ['DATA_EDIT', 'USER_ADD'],
      }),
    ).toEqual({ name: 'B' })
    expect(changedFields(user, { permissions: ['DATA_EDIT'] })).toEqual({
      permissions: ['DATA_EDIT'],
    })
  })

  it('leave out empty fields of a new record', () => {
    expect(filledFields({ email: 'a@x.org', name: '', permissions: [] })).toEqual({
      email: 'a@x.org',
    })
  })

  it('make a fresh 128-bit idempotency key each time', () => {
    const key = newIdempotencyKey()
    expect(key).toMatch(/^[0-9a-f]{32}$/)
    expect(newIdempotencyKey()).not.toBe(key)
  })
})

describe('operations', () => {
  const doc = {
    paths: {
      '/api/v1/user/{user_id}': {
        patch: {
          operationId: 'update_user',
          summary: "Change a user's record (USER_MANAGEMENT)",
          security: [{ bearer: [] }],
          parameters: [
            { name: 'user_id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'If-Match', in: 'header', schema: { type: 'string' } },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/UserBody' } } },
          },
          responses: {
            '412': { description: 'If-Match names another version (VersionMismatch)' },
            '200': {
              description: 'ok',
              content: { 'application/json': { schema: { type: 'object' } } },
            },
          },
        },
      },
      '/api/v1/login': {
        get: {
          operationId: 'list_login_types',
          summary: 'Login types',
          responses: { '200': { description: 'ok' } },
        },
      },
    },
    components: {
      schemas: { UserBody: { type: 'object', properties: { user: { type: 'object' } } } },
    },
  }

  it('list who may call each operation, its parameters, body and answers', () => {
    const [patch, login] = operations(doc)
    expect(patch.method).toBe('PATCH')
    expect(patch.who).toMatch(/Signed in.*needs USER_MANAGEMENT/)
    expect(patch.parameters.map((p) => `${p.where}:${p.name}:${p.required}`)).toEqual([
      'path:user_id:true',
      'header:If-Match:false',
    ])
    expect(patch.body).toMatch(/^Required: \{\n {2}"title": "UserBody"/)
    expect(patch.answers.map((a) => a.status)).toEqual(['200', '412'])
    expect(patch.answers[1].description).toContain('VersionMismatch')
    expect(login.who).toBe('Anyone, no credentials needed.')
    expect(login.body).toBe('')
  })
})
