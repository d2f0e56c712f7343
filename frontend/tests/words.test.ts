import { describe, expect, it } from 'vitest'

import { changedFields, filledFields, newIdempotencyKey } from '../src/forms'
import { describe as describeEntry } from '../src/history'
import { loginErrorMessage } from '../src/loginErrors'
import { operations } from '../src/openapi'
import { formatTime } from '../src/time'

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
      'identity_taken',
      'not_signed_in',
    ]) {
      const message = loginErrorMessage(code)
      expect(message).not.toContain(code)
      expect(message.split('. ').length).toBeGreaterThan(1)
    }
    expect(loginErrorMessage('email_in_use')).toMatch(/already exists/)
    expect(loginErrorMessage('email_in_use')).toMatch(/Profile.*Link.*Sign-in methods/)
  })

  it('still explains a code it does not know', () => {
    expect(loginErrorMessage('new_code')).toMatch(/sign-in failed \(new_code\)/)
  })
})

describe('history entries', () => {
  const base = { id: 'l1', entry_id: 'me', timestamp: '2026-01-01T00:00:00Z' }
  const reader = {
    selfId: 'me',
    manager: true,
    kind: 'log' as const,
    people: {
      u2: { name: 'Grace Hopper', deleted: false },
      u3: { name: null, deleted: true },
    },
  }

  it('say per field what it was and what it became, in words, without internal fields', () => {
    const text = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'u2',
        data: { name: 'New', permissions: ['USER_ADD'], email_verified: true, version: 3 },
        old: { name: 'Old', permissions: [], email_verified: false, version: 2 },
      },
      reader,
    )
    expect(text.who).toEqual({ text: 'Grace Hopper', userId: 'u2' })
    expect(text.what).toBe('changed')
    expect(text.record?.text).toBe('your record')
    expect(text.changes).toEqual([
      { label: 'Name', from: 'Old', to: 'New' },
      { label: 'Permissions', from: '(none)', to: 'USER_ADD' },
    ])
  })

  it('say only the new value of an entry written before old values were kept', () => {
    const text = describeEntry(
      { ...base, action: 'edit', user: 'me', data: { contact: 'a\nb' } },
      reader,
    )
    expect(text.who.text).toBe('you')
    expect(text.changes).toEqual([{ label: 'Contact', from: null, to: 'a\nb' }])
  })

  it('name the service, a deleted user, and link a person only for a manager', () => {
    expect(
      describeEntry({ ...base, action: 'add', user: 'system', data: {} }, reader).who.text,
    ).toBe('the service')
    expect(describeEntry({ ...base, action: 'delete', user: 'u3' }, reader).who).toEqual({
      text: 'a deleted user',
      userId: null,
    })
    const plain = describeEntry(
      { ...base, action: 'edit', user: 'u2', data: {} },
      { ...reader, manager: false },
    )
    expect(plain.who).toEqual({ text: 'Grace Hopper', userId: null })
  })

  it('say which record an action changed', () => {
    const actions = { ...reader, kind: 'actions' as const }
    const text = describeEntry(
      { ...base, entry_id: 'u2', action: 'add', data: { name: 'Grace Hopper' } },
      actions,
    )
    expect(text.record).toEqual({ text: 'the record of Grace Hopper', userId: 'u2' })
    expect(text.changes).toEqual([{ label: 'Name', from: null, to: 'Grace Hopper' }])
    expect(describeEntry({ ...base, entry_id: 'u3', action: 'delete' }, actions).record?.text).toBe(
      "a deleted user's record",
    )
  })

  it('tell of API keys by their name, never by an id', () => {
    const made = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'me',
        comment: 'API key 9b9e0c1d2e3f4a5b made (the key itself is never logged)',
        data: { key_id: '9b9e0c1d2e3f4a5b', name: 'laptop' },
        old: {},
      },
      reader,
    )
    expect(made.what).toBe("made the API key 'laptop' for")
    expect(made.changes).toEqual([])
    const revoked = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'me',
        comment: 'API key 9b9e revoked',
        data: { key_id: '9b9e', name: '' },
      },
      reader,
    )
    expect(revoked.what).toBe('revoked an API key of')
    expect(JSON.stringify([made, revoked])).not.toContain('9b9e')
  })

  it('tell of a key made with its expiry and of a rotation with both keys’ ends', () => {
    const expires = '2027-03-03T12:00:00Z'
    const oldEnds = '2026-12-04T12:00:00Z'
    const made = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'me',
        comment: 'API key 9b9e0c1d2e3f4a5b made (the key itself is never logged)',
        data: { key_id: '9b9e0c1d2e3f4a5b', name: 'laptop', expires },
      },
      reader,
    )
    expect(made.what).toBe(`made the API key 'laptop' (expires ${formatTime(expires)}) for`)
    const rotated = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'me',
        comment:
          'API key 1c2d made by rotating API key 9b9e, which works until ' +
          `${oldEnds} (the key itself is never logged)`,
        data: {
          key_id: '1c2d',
          name: 'laptop',
          expires,
          rotates: '9b9e',
          old_key_expires: oldEnds,
        },
      },
      reader,
    )
    expect(rotated.what).toBe(
      `rotated the API key 'laptop' (the new one expires ${formatTime(expires)}; ` +
        `the old one works until ${formatTime(oldEnds)}) of`,
    )
    expect(JSON.stringify(rotated)).not.toContain('9b9e')
  })

  it('tell of a first sign-in with a provider, not of auth_ids', () => {
    const text = describeEntry(
      {
        ...base,
        action: 'edit',
        user: 'system',
        comment: 'identity alice-sub::local linked',
        data: { auth_ids: ['a@x.org', 'alice-sub::local'] },
        old: { auth_ids: ['a@x.org'] },
      },
      reader,
    )
    expect(text.who.text).toBe('you')
    expect(text.what).toBe('signed in with local for the first time')
    expect(JSON.stringify(text)).not.toContain('alice-sub')
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
