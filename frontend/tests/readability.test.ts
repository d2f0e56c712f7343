// The sign-out race, the history list's order and states, search, confirmations
// and the new-key notice.
import { flushPromises } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import ConfirmButton from '../src/components/ConfirmButton.vue'
import HistoryList from '../src/components/HistoryList.vue'
import KeyList from '../src/components/KeyList.vue'
import { provideApi } from '../src/api'
import UsersView from '../src/views/UsersView.vue'
import { refresh, session, signOut } from '../src/session'
import { error, FakeService, json } from './fakeService'
import { button, field, mountView } from './mounting'

const ME = {
  id: 'me',
  email: 'me@x.org',
  name: 'Me',
  permissions: ['USER_SEARCH', 'USER_MANAGEMENT'],
}

describe('signing out', () => {
  it('is not undone by an answer that started before it', async () => {
    let answer: (r: Response) => void = () => {}
    const service = new FakeService()
      .on('GET user/me', () => new Promise<Response>((resolve) => (answer = resolve)))
      .on('POST logout', () => json(204))
    provideApi(service.api())
    session.user = ME
    const refreshing = refresh()
    await flushPromises()
    await signOut()
    answer(json(200, { user: ME }))
    await refreshing
    expect(session.user).toBeNull()
  })
})

describe('history list', () => {
  const entry = (n: number) => ({
    id: `e${n}`,
    action: 'edit',
    entry_id: 'me',
    user: 'u2',
    timestamp: `2026-01-0${n}T00:00:00Z`,
    data: { contact: `line ${n}\nsecond line` },
    old: { contact: '' },
  })

  it('shows newest first with names, and flips to oldest first', async () => {
    const service = new FakeService().on('GET user/me/log', (r) =>
      json(200, {
        logs: r.query.get('order') === 'desc' ? [entry(2), entry(1)] : [entry(1), entry(2)],
        actors: { u2: { name: 'Grace Hopper', deleted: false } },
        next: null,
      }),
    )
    const { wrapper } = await mountView(HistoryList, service, {
      user: ME,
      props: { userId: 'me', kind: 'log', title: 'Changes', viewerId: 'me' },
    })
    expect(service.calls('GET user/me/log')[0].query.get('order')).toBe('desc')
    expect(wrapper.findAll('li.entry')[0].text()).toContain('line 2')
    expect(wrapper.text()).toContain('Grace Hopper changed your record')
    expect(wrapper.find('a.actor').attributes('href')).toBe('/users/u2')
    expect(wrapper.find('dd').text()).toMatch(/^from \(empty\) to line 2\nsecond line$/)
    await button(wrapper, 'Oldest first').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('li.entry')[0].text()).toContain('line 1')
    expect(button(wrapper, 'Newest first').exists()).toBe(true)
  })

  it('says what failed and retries', async () => {
    let fail = true
    const service = new FakeService().on('GET user/me/log', () =>
      fail
        ? error(503, 'StorageUnavailable', 'The storage is unavailable.')
        : json(200, { logs: [], actors: {}, next: null }),
    )
    const { wrapper } = await mountView(HistoryList, service, {
      user: ME,
      props: { userId: 'me', kind: 'log', title: 'Changes', viewerId: 'me' },
    })
    expect(wrapper.find('[role=alert]').text()).toContain(
      'The history could not be loaded: The storage is unavailable.',
    )
    fail = false
    await button(wrapper, 'Try again').trigger('click')
    await flushPromises()
    expect(wrapper.find('[role=alert]').exists()).toBe(false)
    expect(wrapper.text()).toContain('Nothing yet.')
  })
})

describe('users page', () => {
  it('searches by a name or an address with q', async () => {
    const service = new FakeService().on('GET user', (r) =>
      json(200, {
        users: r.query.get('q') === 'ada' ? [{ id: 'u1', email: 'a@x.org', name: 'Ada' }] : [],
        next: null,
      }),
    )
    const { wrapper } = await mountView(UsersView, service, { user: ME })
    expect(wrapper.text()).toContain('No users yet.')
    await field(wrapper, 'Search users').setValue(' ada ')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.find('caption').text()).toBe('Users matching “ada”')
    await field(wrapper, 'Search users').setValue('zz')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.text()).toContain('No user matches “zz”.')
  })
})

describe('confirmations', () => {
  it('focus the safe choice and cancel on Escape', async () => {
    const { wrapper } = await mountView(ConfirmButton, new FakeService(), {
      props: { label: 'Delete', question: 'Delete it?', confirmLabel: 'Yes, delete' },
    })
    await button(wrapper, 'Delete').trigger('click')
    await flushPromises()
    expect(document.activeElement?.textContent).toBe('Cancel')
    await wrapper.find('[role=group]').trigger('keydown', { key: 'Escape' })
    await flushPromises()
    expect(wrapper.text()).not.toContain('Delete it?')
    expect(document.activeElement?.textContent).toBe('Delete')
    expect(wrapper.emitted('confirm')).toBeUndefined()
  })
})

describe('API keys', () => {
  it('show one new-key notice, gone when that key is revoked', async () => {
    let made = 0
    const keys: { id: string; name: string; created: string; expires: null; last_used: null }[] = []
    const service = new FakeService()
      .on('GET user/me/apikeys', () => json(200, { apikeys: keys }))
      .on('POST user/me/apikeys', () => {
        made += 1
        keys.push({
          id: `k${made}`,
          name: `key ${made}`,
          created: '2026-01-01T00:00:00Z',
          expires: null,
          last_used: null,
        })
        return json(201, {
          key: `uk_me.k${made}.secret`,
          id: `k${made}`,
          expires: '2026-04-01T00:00:00Z',
        })
      })
      .on('DELETE user/me/apikeys/k2', () => {
        keys.pop()
        return json(204)
      })
    const { wrapper } = await mountView(KeyList, service, {
      user: ME,
      props: { userId: 'me', allowCreate: true },
    })
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.findAll('.new-key')).toHaveLength(1)
    expect(wrapper.find('.new-key input').element).toHaveProperty('value', 'uk_me.k2.secret')
    expect(wrapper.find('.new-key').text()).not.toContain('Copied.')
    const rows = wrapper.findAll('tbody tr')
    const revoke = rows[1].findAll('button').filter((b) => b.text() === 'Revoke')
    await revoke[0].trigger('click')
    await flushPromises()
    await button(wrapper, 'Yes, revoke').trigger('click')
    await flushPromises()
    expect(wrapper.find('.new-key').exists()).toBe(false)
    expect(document.activeElement?.textContent).toBe('The key key 2 is revoked.')
  })

  it('warn before revoking the key this session was made with', async () => {
    session.keyId = 'k1'
    const service = new FakeService().on('GET user/me/apikeys', () =>
      json(200, {
        apikeys: [
          {
            id: 'k1',
            name: 'laptop',
            created: '2026-01-01T00:00:00Z',
            expires: null,
            last_used: null,
          },
        ],
      }),
    )
    const { wrapper } = await mountView(KeyList, service, { user: ME, props: { userId: 'me' } })
    await button(wrapper, 'Revoke').trigger('click')
    await flushPromises()
    expect(wrapper.text()).toContain('this signs you out here')
    session.keyId = null
  })
})
