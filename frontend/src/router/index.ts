import { nextTick } from 'vue'
import { createRouter, createWebHashHistory, type RouteLocationNormalized } from 'vue-router'

import type { Permission } from '../api'
import { has, session, start } from '../session'
import SignInView from '../views/SignInView.vue'

declare module 'vue-router' {
  interface RouteMeta {
    signedIn?: boolean
    permission?: Permission
    title: string
  }
}

// Hash history: the page is always the one document at <base path>/, so the
// service needs no route per view and the UI works under any path prefix.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', component: SignInView, meta: { title: 'Sign in' } },
    {
      path: '/profile',
      component: () => import('../views/ProfileView.vue'),
      meta: { signedIn: true, title: 'Profile' },
    },
    {
      path: '/keys',
      component: () => import('../views/ApiKeysView.vue'),
      meta: { signedIn: true, title: 'API keys' },
    },
    {
      path: '/history',
      component: () => import('../views/HistoryView.vue'),
      meta: { signedIn: true, title: 'History' },
    },
    {
      path: '/users',
      component: () => import('../views/UsersView.vue'),
      meta: { signedIn: true, permission: 'USER_SEARCH', title: 'Users' },
    },
    {
      path: '/users/new',
      component: () => import('../views/NewUserView.vue'),
      meta: { signedIn: true, permission: 'USER_ADD', title: 'New user' },
    },
    {
      path: '/users/:id',
      component: () => import('../views/UserView.vue'),
      props: true,
      meta: { signedIn: true, permission: 'USER_MANAGEMENT', title: 'User' },
    },
    {
      path: '/api',
      component: () => import('../views/ApiDocsView.vue'),
      meta: { title: 'API' },
    },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

/** A page of this UI to go to after sign-in: a path of it, never another site. */
export function safeNext(value: unknown): string | null {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//')
    ? value
    : null
}

/** The sign-in page, going on to `next` (a page of this UI) after sign-in. */
export function signInPage(next: string): { path: '/'; query: { next?: string } } {
  const path = safeNext(next)
  return { path: '/', query: path && path !== '/' ? { next: path } : {} }
}

/** Where a visit may go: signed-out visitors to the sign-in page, with the page
 * they asked for kept in its address for after sign-in (`?next=`, which a
 * provider's sign-in brings back: see providerAddress); signed-in people past the
 * sign-in page, to that page or their profile. A page the person may not use
 * shows so (``forbidden``) rather than sending them elsewhere. */
export function destination(
  to: Pick<RouteLocationNormalized, 'path' | 'query' | 'fullPath' | 'meta'>,
): string | true | ReturnType<typeof signInPage> {
  const signedIn = session.user !== null
  if (to.path === '/' && signedIn) {
    const next = safeNext(to.query.next)
    return next && next !== '/' ? next : '/profile'
  }
  if (to.meta.signedIn && !signedIn) return signInPage(to.fullPath)
  return true
}

/** Whether the person may not use the page of `to` (they lack its permission). */
export function forbidden(to: RouteLocationNormalized): boolean {
  return Boolean(to.meta.permission && session.user && !has(to.meta.permission))
}

router.beforeEach(async (to) => {
  await start()
  return destination(to)
})

let navigations = 0
router.afterEach(async (to, _from, failure) => {
  document.title = `${to.meta.title} · Users`
  if (failure || navigations++ === 0) return // the first page keeps the browser's own focus
  await nextTick()
  focusHeading()
})

/** Move focus to the page's heading, so a screen reader and the keyboard start there. */
export function focusHeading(): void {
  const heading =
    document.querySelector<HTMLElement>('main h1') ?? document.querySelector<HTMLElement>('main')
  if (!heading) return
  heading.setAttribute('tabindex', '-1')
  heading.focus()
}
