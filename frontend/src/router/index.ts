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

/** Where a visit may go: signed-out visitors to the sign-in page, people without
 * the page's permission to their profile, signed-in people past the sign-in page. */
export function destination(to: RouteLocationNormalized): string | true {
  const signedIn = session.user !== null
  if (to.path === '/' && signedIn) return '/profile'
  if (to.meta.signedIn && !signedIn) return '/'
  if (to.meta.permission && !has(to.meta.permission)) return '/profile'
  return true
}

router.beforeEach(async (to) => {
  await start()
  return destination(to)
})

router.afterEach((to) => {
  document.title = `${to.meta.title} · Users`
})
