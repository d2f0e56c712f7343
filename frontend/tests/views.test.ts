import { flushPromises } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

import AppNav from '../src/components/AppNav.vue'
import HistoryList from '../src/components/HistoryList.vue'
import KeyList from '../src/components/KeyList.vue'
import ProfileView from '../src/views/ProfileView.vue'
import SignInView from '../src/views/SignInView.vue'
import UsersView from '../src/views/UsersView.vue'
import UserView from '../src/views/UserView.vue'
import { formatTime } from '../src/time'
import { error, FakeService, json } from './fakeService'
import { button, field, mountView } from './mounting'
import { userRecord } from './records'

const DESCRIBED = {
  components: {
    schemas: {
      Permission: {
        oneOf: [
          { const: 'DATA_EDIT', description: 'create and edit the tracker’s data' },
          { const: 'USER_ADD', description: 'create users' },
          { const: 'USER_MANAGEMENT', description: 'read and edit every user' },
        ],
      },
    },
  },
}

const ME = userRecord({ id: 'me', email: 'me@example.org', name: 'Me' })

afterEach(() => {
  document.body.innerHTML = ''
  window.history.replaceState(null, '', '/')
})

describe('sign-in page', () => {
  it('offers one button per provider and an API key field', async () => {
    const service = new FakeService().on('GET login/oidc', () =>
      json(200, {
        local: '/users/api/v1/login/oidc/local',
        elixir: '/users/api/v1/login/oidc/elixir',
      }),
    )
    const { wrapper } = await mountView(SignInView, service)
    expect(wrapper.findAll('button').map((b) => b.text())).toEqual([
      'Sign in with local',
      'Sign in with elixir',
      'Sign in',
    ])
    expect(field(wrapper, 'API key').attributes('type')).toBe('password')
  })

  it('shows a failed login in words and drops the code from the address', async () => {
    window.history.replaceState(null, '', '/?login_error=email_in_use')
    const service = new FakeService().on('GET login/oidc', () => json(200, {}))
    const { wrapper } = await mountView(SignInView, service)
    expect(wrapper.find('[role="alert"]').text()).toMatch(
      /account with your email address already exists/,
    )
    expect(window.location.search).toBe('')
  })

  it('shows a failed provider sign-in begun here, and keeps the page asked for', async () => {
    const service = new FakeService().on('GET login/oidc', () => json(200, {}))
    const { wrapper, router } = await mountView(SignInView, service, {
      path: '/?next=%2Fkeys&login_error=provider_unavailable',
    })
    expect(wrapper.find('[role="alert"]').text()).toMatch(/could not be reached/)
    expect(wrapper.text()).toContain('Sign in to open that page.')
    expect(router.currentRoute.value.fullPath).toBe('/?next=/keys')
  })

  it('goes on to a page asked for while it was showing', async () => {
    const service = new FakeService()
      .on('GET login/oidc', () => json(200, {}))
      .on('POST login/apikey', () => json(200, { expires: '2026-01-01T12:00:00Z' }))
      .on('GET user/me', () => json(200, { user: ME }))
    const { wrapper, router } = await mountView(SignInView, service)
    expect(wrapper.text()).not.toContain('Sign in to open that page.')
    await router.push('/?next=%2Fhistory')
    await flushPromises()
    expect(wrapper.text()).toContain('Sign in to open that page.')
    await field(wrapper, 'API key').setValue('uk_0123.0123456789abcdef.secret')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/history')
  })

  it('says so when an API key is refused', async () => {
    const service = new FakeService()
      .on('GET login/oidc', () => json(200, {}))
      .on('POST login/apikey', () => error(401, 'InvalidCredentials', 'bad key'))
    const { wrapper } = await mountView(SignInView, service)
    await field(wrapper, 'API key').setValue('uk_wrong')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').text()).toMatch(/not valid/)
  })
})

describe('navigation', () => {
  it('shows Users only to people with USER_SEARCH', async () => {
    const service = new FakeService()
    const plain = await mountView(AppNav, service, { user: ME })
    expect(plain.wrapper.text()).not.toContain('Users')
    expect(plain.wrapper.text()).toContain('API keys')
    const searcher = await mountView(AppNav, service, {
      user: userRecord({ ...ME, permissions: ['USER_SEARCH'] }),
    })
    expect(searcher.wrapper.text()).toContain('Users')
  })
})

function profileService(user: object = ME): FakeService {
  return new FakeService()
    .on('GET user/me', () => json(200, { user }))
    .on('GET user/me/permissions', () => json(200, { permissions: [] }))
    .on('GET openapi.json', () => json(200, DESCRIBED))
    .on('GET login/oidc', () =>
      json(200, {
        local: '/users/api/v1/login/oidc/local',
        lslogin: '/users/api/v1/login/oidc/lslogin',
      }),
    )
}

describe('profile', () => {
  it('lists the sign-in methods, unlinks one after confirmation and offers a link per provider', async () => {
    const me = { ...ME, auth_ids: ['me@example.org', 'abc@elixir::elixir', 'me-sub::local'] }
    const service = profileService(me).on('DELETE user/me/identities/me-sub%3A%3Alocal', () =>
      json(204),
    )
    const { wrapper } = await mountView(ProfileView, service, { user: me })
    const section = wrapper.find('[aria-labelledby="sign-in-methods"]')
    expect(section.findAll('li').map((li) => li.text().split(' Unlink')[0])).toEqual([
      'elixir (abc@elixir)',
      'local (me-sub)',
    ])
    expect(section.findAll('.link-providers button').map((b) => b.text())).toEqual([
      'Link local',
      'Link lslogin',
    ])
    await section
      .findAll('button')
      .filter((b) => b.text() === 'Unlink')[1]
      .trigger('click')
    expect(service.calls('DELETE user/me/identities/me-sub%3A%3Alocal')).toHaveLength(0)
    await button(wrapper, 'Yes, unlink').trigger('click')
    await flushPromises()
    expect(service.calls('DELETE user/me/identities/me-sub%3A%3Alocal')).toHaveLength(1)
    expect(section.find('[role="status"]').text()).toBe('The local sign-in is unlinked.')
  })

  it('shows each effective permission with its description and why', async () => {
    const service = profileService().on('GET user/me/permissions', () =>
      json(200, {
        permissions: [
          { name: 'DATA_EDIT', because: [{ granted: true }] },
          {
            name: 'USER_ADD',
            because: [
              { implied_by: 'DATA_EDIT' },
              {
                rule: {
                  provider: 'lslogin',
                  claim: 'e',
                  value: 'v',
                  asserted: '2026-01-01T00:00:00Z',
                  until: '2026-01-31T00:00:00Z',
                },
              },
            ],
          },
        ],
      }),
    )
    const { wrapper } = await mountView(ProfileView, service, { user: ME })
    const items = wrapper.findAll('.permission-reasons li').map((li) => li.text())
    expect(items[0]).toBe('DATA_EDIT: create and edit the tracker’s data (granted by hand)')
    expect(items[1]).toMatch(
      /^USER_ADD: create users \(implied by DATA_EDIT; from lslogin’s rule, until .+\)$/,
    )
  })

  it('says why a link failed', async () => {
    const service = profileService()
    const { wrapper } = await mountView(ProfileView, service, {
      user: ME,
      path: '/profile?login_error=identity_taken',
    })
    expect(wrapper.find('[role="alert"]').text()).toMatch(/belongs to another account/)
  })

  it('puts the service’s 400 message beside the form', async () => {
    const service = profileService().on('PATCH user/me', () =>
      error(400, 'InvalidInput', 'orcid: not a valid ORCID iD'),
    )
    const { wrapper } = await mountView(ProfileView, service, { user: ME })
    await field(wrapper, 'ORCID').setValue('1234')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(service.calls('PATCH user/me')[0].body).toEqual({ user: { orcid: '1234' } })
    expect(wrapper.find('.beside [role="alert"]').text()).toBe('orcid: not a valid ORCID iD')
    // An alert is its own live region: inside another it would be announced twice.
    expect(wrapper.findAll('[aria-live] [role="alert"]')).toHaveLength(0)
  })

  it('says the profile is saved', async () => {
    const service = profileService().on('PATCH user/me', (req) =>
      json(200, { user: { ...ME, ...(req.body as { user: object }).user } }),
    )
    const { wrapper } = await mountView(ProfileView, service, { user: ME })
    await field(wrapper, 'Name').setValue('Me Too')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[role="status"]').text()).toBe('Your profile is saved.')
  })
})

describe('API keys', () => {
  const KEY = {
    id: 'k1',
    name: 'laptop',
    created: '2026-01-01T00:00:00Z',
    expires: null,
    last_used: null,
  }

  it('shows a new key once, with Copy and a warning', async () => {
    let keys = [] as (typeof KEY)[]
    const service = new FakeService()
      .on('GET user/me/apikeys', () => json(200, { apikeys: keys }))
      .on('POST user/me/apikeys', () => {
        keys = [KEY]
        return json(201, { key: 'uk_me.k1.secret', id: 'k1', expires: '2026-01-31T00:00:00Z' })
      })
    const { wrapper } = await mountView(KeyList, service, {
      user: ME,
      props: { userId: 'me', allowCreate: true },
    })
    await field(wrapper, 'Name').setValue('laptop')
    await field(wrapper, 'Expires in days').setValue('30')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(service.calls('POST user/me/apikeys')[0].body).toEqual({
      name: 'laptop',
      expires_in_days: 30,
    })
    expect((field(wrapper, 'New API key').element as HTMLInputElement).value).toBe(
      'uk_me.k1.secret',
    )
    expect(wrapper.text()).toContain('This key will not be shown again.')
    expect(button(wrapper, 'Copy').exists()).toBe(true)
    expect(wrapper.find('table').text()).toContain('laptop')
  })

  const DAYS = {
    components: {
      schemas: {
        ApiKeyRequest: { properties: { expires_in_days: { default: 90, maximum: 365 } } },
      },
    },
  }
  const OWNER = userRecord({ ...ME, permissions: ['USER_ADD', 'USER_SEARCH'] })

  function keyService(): FakeService {
    let keys = [] as Record<string, unknown>[]
    return new FakeService()
      .on('GET openapi.json', () => json(200, DAYS))
      .on('GET user/me/apikeys', () => json(200, { apikeys: keys }))
      .on('POST user/me/apikeys', () => {
        keys = [{ ...KEY, id: 'k2', name: 'ci', permissions: ['USER_SEARCH'], read_only: true }]
        return json(201, { key: 'uk_new', id: 'k2', expires: '2026-04-01T00:00:00Z' })
      })
  }

  it('offers the default lifetime, states the maximum and ticks every permission the person has', async () => {
    const { wrapper } = await mountView(KeyList, keyService(), {
      user: OWNER,
      props: { userId: 'me', allowCreate: true, permissions: OWNER.permissions },
    })
    const days = field(wrapper, 'Expires in days').element as HTMLInputElement
    expect(days.value).toBe('90')
    expect(days.max).toBe('365')
    expect(wrapper.text()).toContain('At most 365 days.')
    expect(wrapper.find('fieldset legend').text()).toBe('This key may')
    const boxes = wrapper.findAll('fieldset input[type="checkbox"]')
    expect(boxes.map((b) => (b.element as HTMLInputElement).value)).toEqual([
      'USER_ADD',
      'USER_SEARCH',
    ])
    expect(boxes.every((b) => (b.element as HTMLInputElement).checked)).toBe(true)
    expect((field(wrapper, 'Read only').element as HTMLInputElement).checked).toBe(false)
  })

  it('sends no list when every permission stays ticked', async () => {
    const service = keyService()
    const { wrapper } = await mountView(KeyList, service, {
      user: OWNER,
      props: { userId: 'me', allowCreate: true, permissions: OWNER.permissions },
    })
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(service.calls('POST user/me/apikeys')[0].body).toEqual({ expires_in_days: 90 })
  })

  it('makes a read-only key with the permissions left ticked, and lists its scope', async () => {
    const service = keyService()
    const { wrapper } = await mountView(KeyList, service, {
      user: OWNER,
      props: { userId: 'me', allowCreate: true, permissions: OWNER.permissions },
    })
    await field(wrapper, 'Name').setValue('ci')
    await field(wrapper, 'USER_ADD').setValue(false)
    await field(wrapper, 'Read only').setValue(true)
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(service.calls('POST user/me/apikeys')[0].body).toEqual({
      name: 'ci',
      expires_in_days: 90,
      permissions: ['USER_SEARCH'],
      read_only: true,
    })
    expect((field(wrapper, 'New API key').element as HTMLInputElement).value).toBe('uk_new')
    expect(wrapper.find('table').text()).toContain('USER_SEARCH; read only')
  })

  it('lists each key’s scope, expiry, last use and its address', async () => {
    const used = {
      ...KEY,
      expires: '2026-06-01T00:00:00Z',
      last_used: '2026-02-01T00:00:00Z',
      last_used_ip: '192.0.2.7',
      permissions: null,
    }
    const service = new FakeService().on('GET user/me/apikeys', () =>
      json(200, { apikeys: [used] }),
    )
    const { wrapper } = await mountView(KeyList, service, { user: ME, props: { userId: 'me' } })
    const headers = wrapper.findAll('th').map((th) => th.text())
    expect(headers).toEqual(expect.arrayContaining(['Scope', 'Expires', 'Last used', 'from']))
    const row = wrapper.find('tbody tr').text()
    expect(row).toContain('192.0.2.7')
    expect(row).toContain('all of the owner’s permissions')
  })

  it('rotates a key after confirmation, showing the new key once and until when the old one works', async () => {
    const service = new FakeService()
      .on('GET user/me/apikeys', () => json(200, { apikeys: [KEY] }))
      .on('POST user/me/apikeys/k1/rotate', () =>
        json(201, {
          key: 'uk_rotated',
          id: 'k3',
          expires: '2026-05-01T00:00:00Z',
          old_key_expires: '2026-01-02T00:00:00Z',
        }),
      )
    const { wrapper } = await mountView(KeyList, service, { user: ME, props: { userId: 'me' } })
    await button(wrapper, 'Rotate').trigger('click')
    expect(service.calls('POST user/me/apikeys/k1/rotate')).toHaveLength(0)
    await button(wrapper, 'Yes, rotate').trigger('click')
    await flushPromises()
    expect(service.calls('POST user/me/apikeys/k1/rotate')).toHaveLength(1)
    expect((field(wrapper, 'New API key').element as HTMLInputElement).value).toBe('uk_rotated')
    expect(wrapper.text()).toContain('This key will not be shown again.')
    expect(wrapper.find('[role="status"]').text()).toContain(
      `works until ${formatTime('2026-01-02T00:00:00Z')}`,
    )
  })

  it('revokes a key only after confirmation', async () => {
    const service = new FakeService()
      .on('GET user/me/apikeys', () => json(200, { apikeys: [KEY] }))
      .on('DELETE user/me/apikeys/k1', () => json(204))
    const { wrapper } = await mountView(KeyList, service, { user: ME, props: { userId: 'me' } })
    await button(wrapper, 'Revoke').trigger('click')
    expect(service.calls('DELETE user/me/apikeys/k1')).toHaveLength(0)
    await button(wrapper, 'Cancel').trigger('click')
    await button(wrapper, 'Revoke').trigger('click')
    await button(wrapper, 'Yes, revoke').trigger('click')
    await flushPromises()
    expect(service.calls('DELETE user/me/apikeys/k1')).toHaveLength(1)
    expect(wrapper.find('[role="status"]').text()).toContain('revoked')
  })
})

describe('a user’s page', () => {
  const MANAGER = userRecord({ ...ME, permissions: ['USER_ADD', 'USER_MANAGEMENT', 'USER_SEARCH'] })
  const OTHER = userRecord({
    id: 'u2',
    email: 'u2@example.org',
    name: 'Two',
    permissions: ['USER_ADD'],
    version: 4,
  })

  function service(): FakeService {
    return new FakeService()
      .on('GET user/u2', () => json(200, { user: OTHER }))
      .on('GET user/permissions', () =>
        json(200, {
          permissions: [
            'DATA_EDIT',
            'OWNERS_READ',
            'USER_ADD',
            'USER_SEARCH',
            'USER_MANAGEMENT',
            'DATA_MANAGEMENT',
          ],
        }),
      )
      .on('GET user/u2/apikeys', () => json(200, { apikeys: [] }))
      .on('GET user/u2/permissions', () =>
        json(200, { permissions: [{ name: 'USER_ADD', because: [{ granted: true }] }] }),
      )
      .on('GET openapi.json', () => json(200, DESCRIBED))
      .on('GET user/u2/log', () => json(200, { logs: [], next: null }))
      .on('GET user/u2/actions', () => json(200, { logs: [], next: null }))
  }

  it('has one checkbox per permission and saves changes with If-Match', async () => {
    const fake = service().on('PATCH user/u2', () =>
      json(200, { user: { ...OTHER, permissions: ['USER_ADD', 'USER_SEARCH'], version: 5 } }),
    )
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    expect(wrapper.findAll('form[aria-label="User record"] input[type="checkbox"]')).toHaveLength(6)
    expect((field(wrapper, 'USER_ADD').element as HTMLInputElement).checked).toBe(true)
    await field(wrapper, 'USER_SEARCH').setValue(true)
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    const [patch] = fake.calls('PATCH user/u2')
    expect(patch.headers['If-Match']).toBe('4')
    expect(patch.body).toEqual({ user: { permissions: ['USER_ADD', 'USER_SEARCH'] } })
    expect(wrapper.text()).toContain('The user is saved.')
  })

  it('offers a manager the user’s own permissions for a new key of theirs', async () => {
    const { wrapper } = await mountView(UserView, service(), { user: MANAGER, props: { id: 'u2' } })
    const form = wrapper.find('form[aria-label="Make an API key"]')
    expect(form.find('legend').text()).toBe('This key may')
    const boxes = form.findAll('fieldset input[type="checkbox"]')
    expect(boxes.map((b) => (b.element as HTMLInputElement).value)).toEqual(['USER_ADD'])
    expect((boxes[0].element as HTMLInputElement).checked).toBe(true)
  })

  it('describes each checkbox and shows beside them what the user may do and why', async () => {
    const { wrapper } = await mountView(UserView, service(), { user: MANAGER, props: { id: 'u2' } })
    expect(wrapper.find('legend').text()).toBe('Permissions granted by hand')
    const box = field(wrapper, 'USER_ADD')
    expect(wrapper.find(`[id="${box.attributes('aria-describedby')}"]`).text()).toBe('create users')
    expect(wrapper.find('.permission-reasons').text()).toBe(
      'USER_ADD: create users (granted by hand)',
    )
    expect(wrapper.find('[aria-labelledby="sign-in-methods"]').text()).toContain(
      'No provider sign-in is linked.',
    )
  })

  it('explains a stale version and reloads on request', async () => {
    const fake = service().on('PATCH user/u2', () => error(412, 'VersionMismatch', 'stale'))
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    await field(wrapper, 'Name').setValue('Changed')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').text()).toMatch(
      /changed this user since you opened the page/,
    )
    await button(wrapper, 'Reload').trigger('click')
    await flushPromises()
    expect(fake.calls('GET user/u2')).toHaveLength(2)
    expect((field(wrapper, 'Name').element as HTMLInputElement).value).toBe('Two')
  })

  it('explains that the last user manager cannot be deleted', async () => {
    const fake = service().on('DELETE user/u2', () => error(409, 'LastUserManager', 'last'))
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    await button(wrapper, 'Delete user').trigger('click')
    await button(wrapper, 'Yes, delete').trigger('click')
    await flushPromises()
    expect(fake.calls('DELETE user/u2')[0].headers['If-Match']).toBe('4')
    expect(wrapper.find('[role="alert"]').text()).toMatch(
      /last one who can manage users.*cannot be deleted/,
    )
  })

  it('goes back to the users after deleting', async () => {
    const fake = service().on('DELETE user/u2', () => json(204))
    const { wrapper, router } = await mountView(UserView, fake, {
      user: MANAGER,
      props: { id: 'u2' },
    })
    await button(wrapper, 'Delete user').trigger('click')
    await button(wrapper, 'Yes, delete').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.path).toBe('/users')
    expect(router.currentRoute.value.query).toEqual({ deleted: 'u2@example.org' })
  })
})

describe('history', () => {
  const entry = (n: number) => ({
    id: `l${n}`,
    action: 'edit',
    entry_id: 'me',
    user: 'me',
    timestamp: '2026-01-01T00:00:00Z',
    data: { contact: `room ${n}` },
  })

  it('shows each entry and fetches the next page with More', async () => {
    const service = new FakeService().on('GET user/me/log', (req) =>
      req.query.get('cursor') === 'c2'
        ? json(200, { logs: [entry(3)], actors: {}, next: null })
        : json(200, { logs: [entry(1), entry(2)], actors: {}, next: 'c2' }),
    )
    const { wrapper } = await mountView(HistoryList, service, {
      user: ME,
      props: { userId: 'me', kind: 'log', title: 'Changes to your record', viewerId: 'me' },
    })
    expect(wrapper.findAll('li.entry')).toHaveLength(2)
    expect(wrapper.find('li.entry').text()).toContain('you changed your record')
    expect(wrapper.find('li.entry dt').text()).toBe('Contact')
    expect(wrapper.find('li.entry dd').text()).toBe('changed to room 1')
    await button(wrapper, 'More').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('li.entry')).toHaveLength(3)
    expect(wrapper.findAll('button').filter((b) => b.text() === 'More')).toHaveLength(0)
  })
})

describe('users', () => {
  it('searches by a name or an address and pages with More', async () => {
    const people = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        id: `u${from + i}`,
        email: `u${from + i}@x.org`,
        name: `U${from + i}`,
      }))
    const service = new FakeService().on('GET user', (req) => {
      if (req.query.get('q')) return json(200, { users: people(7, 1), next: null })
      return req.query.get('cursor')
        ? json(200, { users: people(50, 3), next: null })
        : json(200, { users: people(0, 50), next: 'n' })
    })
    const manager = userRecord({
      ...ME,
      permissions: ['USER_SEARCH', 'USER_MANAGEMENT', 'USER_ADD'],
    })
    const { wrapper } = await mountView(UsersView, service, { user: manager })
    expect(wrapper.findAll('tbody tr')).toHaveLength(50)
    expect(service.calls('GET user')[0].query.get('limit')).toBe('50')
    await button(wrapper, 'More').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('tbody tr')).toHaveLength(53)
    await field(wrapper, 'Search users').setValue('u7@x.org')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(service.calls('GET user').at(-1)?.query.get('q')).toBe('u7@x.org')
    expect(wrapper.findAll('tbody tr')).toHaveLength(1)
    expect(wrapper.find('tbody a').attributes('href')).toBe('/users/u7')
  })
})
