// Personal data in the web UI: download, delete one's own account, suspend, erase.
import { flushPromises } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

import { exportFileName } from '../src/download'
import { loginErrorMessage } from '../src/loginErrors'
import ProfileView from '../src/views/ProfileView.vue'
import UsersView from '../src/views/UsersView.vue'
import UserView from '../src/views/UserView.vue'
import { error, FakeService, json } from './fakeService'
import { button, field, mountView } from './mounting'

const ME = {
  id: 'me',
  email: 'ada@example.org',
  name: 'Ada Lovelace',
  permissions: [] as string[],
  version: 3,
}
const EXPORT = { format: 'users-service-export/1', user: ME, log: [], actions: [] }

/** The file names of the downloads the page starts (the links it clicks). */
function downloads(): string[] {
  const names: string[] = []
  document.addEventListener('click', (event) => {
    const link = event.target as HTMLAnchorElement
    if (link.tagName === 'A' && link.download) {
      names.push(link.download)
      event.preventDefault()
    }
  })
  return names
}

afterEach(() => {
  document.body.innerHTML = ''
})

describe('an export’s file name', () => {
  it('names the person and the day, in characters any system accepts', () => {
    const day = new Date('2026-12-03T12:00:00Z')
    expect(exportFileName({ id: 'x', email: 'a@b.org', name: 'Zoë Ångström-Ng' }, day)).toBe(
      'zoe-angstrom-ng-data-2026-12-03.json',
    )
    expect(exportFileName({ id: 'u1', email: 'a.b@example.org', name: '' }, day)).toBe(
      'a-b-example-org-data-2026-12-03.json',
    )
  })
})

describe('profile: your data', () => {
  function service(): FakeService {
    return new FakeService()
      .on('GET user/me', () => json(200, { user: ME }))
      .on('GET user/me/permissions', () => json(200, { permissions: [] }))
      .on('GET openapi.json', () => json(200, {}))
  }

  it('downloads my data as a file named for me and today', async () => {
    const fake = service().on('GET user/me/export', () => json(200, EXPORT))
    const saved = downloads()
    const { wrapper } = await mountView(ProfileView, fake, { user: ME })
    await button(wrapper, 'Download my data').trigger('click')
    await flushPromises()
    expect(fake.calls('GET user/me/export')).toHaveLength(1)
    const today = new Date().toISOString().slice(0, 10)
    expect(saved).toEqual([`ada-lovelace-data-${today}.json`])
  })

  it('deletes my account only after a confirmation naming what goes and what stays', async () => {
    const fake = service().on('DELETE user/me', () => json(204))
    const { wrapper, router } = await mountView(ProfileView, fake, { user: ME })
    await button(wrapper, 'Delete my account').trigger('click')
    const question = wrapper.find('.question').text()
    expect(question).toMatch(
      /profile, email, sign-in identities, API keys and sessions are removed/,
    )
    expect(question).toMatch(/What stays: the history entries/)
    expect(fake.calls('DELETE user/me')).toHaveLength(0)
    await button(wrapper, 'Yes, delete my account').trigger('click')
    await flushPromises()
    expect(fake.calls('DELETE user/me')[0].headers['If-Match']).toBe('3')
    expect(router.currentRoute.value.fullPath).toBe('/?deleted=1')
  })

  it('asks me to sign in again with a provider when my sign-in is not recent', async () => {
    const fake = service()
      .on('DELETE user/me', () => error(403, 'RecentLoginRequired', 'sign in again'))
      .on('GET login/oidc', () => json(200, { elixir: '/users/api/v1/login/oidc/elixir' }))
    const { wrapper } = await mountView(ProfileView, fake, { user: ME })
    await button(wrapper, 'Delete my account').trigger('click')
    await button(wrapper, 'Yes, delete my account').trigger('click')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').text()).toMatch(
      /sign in again with your sign-in provider/,
    )
    expect(button(wrapper, 'Sign in again with elixir').exists()).toBe(true)
  })
})

describe('a user’s page: suspension, download, erasure', () => {
  const MANAGER = { ...ME, id: 'boss', permissions: ['USER_ADD', 'USER_MANAGEMENT', 'USER_SEARCH'] }
  const OTHER = {
    id: 'u2',
    email: 'u2@example.org',
    name: 'Two',
    permissions: [],
    version: 4,
    suspended: false,
  }

  function service(user = OTHER): FakeService {
    return new FakeService()
      .on('GET user/u2', () => json(200, { user }))
      .on('GET user/permissions', () => json(200, { permissions: ['USER_ADD'] }))
      .on('GET user/u2/apikeys', () => json(200, { apikeys: [] }))
      .on('GET user/u2/log', () => json(200, { logs: [], next: null }))
      .on('GET user/u2/actions', () => json(200, { logs: [], next: null }))
  }

  it('suspends a user with If-Match and then says so', async () => {
    const fake = service().on('PATCH user/u2', () =>
      json(200, { user: { ...OTHER, suspended: true, version: 5 } }),
    )
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    expect(wrapper.text()).not.toContain('This user is suspended')
    await button(wrapper, 'Suspend user').trigger('click')
    await flushPromises()
    const [patch] = fake.calls('PATCH user/u2')
    expect(patch.body).toEqual({ user: { suspended: true } })
    expect(patch.headers['If-Match']).toBe('4')
    expect(wrapper.text()).toContain('This user is suspended')
    expect(button(wrapper, 'Lift suspension').exists()).toBe(true)
  })

  it('lifts a suspension', async () => {
    const fake = service({ ...OTHER, suspended: true }).on('PATCH user/u2', () =>
      json(200, { user: { ...OTHER, version: 5 } }),
    )
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    await button(wrapper, 'Lift suspension').trigger('click')
    await flushPromises()
    expect(fake.calls('PATCH user/u2')[0].body).toEqual({ user: { suspended: false } })
    expect(button(wrapper, 'Suspend user').exists()).toBe(true)
  })

  it('explains that the last user manager cannot be suspended', async () => {
    const fake = service().on('PATCH user/u2', () => error(409, 'LastUserManager', 'last'))
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    await button(wrapper, 'Suspend user').trigger('click')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').text()).toMatch(/nor can they be suspended/)
  })

  it('downloads the user’s data as a file named for them', async () => {
    const fake = service().on('GET user/u2/export', () => json(200, EXPORT))
    const saved = downloads()
    const { wrapper } = await mountView(UserView, fake, { user: MANAGER, props: { id: 'u2' } })
    await button(wrapper, 'Download data').trigger('click')
    await flushPromises()
    expect(saved).toEqual([`two-data-${new Date().toISOString().slice(0, 10)}.json`])
  })

  it('says that deleting a user erases them', async () => {
    const { wrapper } = await mountView(UserView, service(), { user: MANAGER, props: { id: 'u2' } })
    await button(wrapper, 'Delete user').trigger('click')
    expect(wrapper.find('.question').text()).toMatch(/erases the person/)
  })
})

describe('users: only the suspended ones', () => {
  it('lists only suspended users when asked, for a manager', async () => {
    const fake = new FakeService().on('GET user', (req) =>
      json(200, {
        users:
          req.query.get('suspended') === 'true'
            ? [{ id: 's', email: 's@x.org', name: 'S', suspended: true }]
            : [],
        next: null,
      }),
    )
    const manager = { ...ME, permissions: ['USER_MANAGEMENT', 'USER_SEARCH'] }
    const { wrapper } = await mountView(UsersView, fake, { user: manager })
    await field(wrapper, 'Only suspended users').setValue(true)
    await flushPromises()
    expect(fake.calls('GET user').at(-1)?.query.get('suspended')).toBe('true')
    expect(wrapper.find('caption').text()).toBe('Suspended users')
    expect(wrapper.find('tbody').text()).toContain('(suspended)')
  })

  it('offers no such filter without USER_MANAGEMENT', async () => {
    const fake = new FakeService().on('GET user', () => json(200, { users: [], next: null }))
    const { wrapper } = await mountView(UsersView, fake, {
      user: { ...ME, permissions: ['USER_SEARCH'] },
    })
    expect(wrapper.text()).not.toContain('Only suspended users')
  })
})

describe('a suspended user’s sign-in', () => {
  it('is explained in words', () => {
    expect(loginErrorMessage('suspended')).toMatch(/account is suspended/)
  })
})
