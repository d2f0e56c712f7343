// Mount a component as the page would: with the router and a fake service behind api().
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import type { Component } from 'vue'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'

import { provideApi, type User } from '../src/api'
import { session } from '../src/session'
import type { FakeService } from './fakeService'

const Empty = { template: '<p>elsewhere</p>' }

export async function mountView(
  component: Component,
  service: FakeService,
  options: { user?: User | null; props?: Record<string, unknown>; path?: string } = {},
): Promise<{ wrapper: VueWrapper; router: Router }> {
  provideApi(service.api())
  session.user = options.user ?? null
  session.started = true
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: Empty },
      { path: '/profile', component: Empty },
      { path: '/users', component: Empty },
      { path: '/users/:id', component: Empty },
      { path: '/:rest(.*)*', component: Empty },
    ],
  })
  await router.push(options.path ?? '/')
  const wrapper = mount(component, {
    props: options.props,
    global: { plugins: [router] },
    attachTo: document.body,
  })
  await flushPromises()
  return { wrapper, router }
}

/** The button whose text is exactly `text`. */
export function button(wrapper: VueWrapper, text: string) {
  const found = wrapper.findAll('button').filter((b) => b.text() === text)
  if (found.length !== 1) throw new Error(`expected one button "${text}", found ${found.length}`)
  return found[0]
}

/** The control labelled `text` (by <label for>). */
export function field(wrapper: VueWrapper, text: string) {
  const label = wrapper.findAll('label').find((l) => l.text() === text)
  if (!label) throw new Error(`no label "${text}"`)
  return wrapper.find(`[id="${label.attributes('for')}"]`)
}
