// Who is signed in: the person's record (from GET /user/me) shared by every view.
import { reactive } from 'vue'

import { api, type User } from './api'

export const session = reactive({
  user: null as User | null,
  started: false,
})

let starting: Promise<void> | null = null

/** Find out once whether the browser holds a session; resolves when known. */
export function start(): Promise<void> {
  starting ??= refresh().finally(() => {
    session.started = true
  })
  return starting
}

/** Load the signed-in person's record, or none when there is no session. */
export async function refresh(): Promise<void> {
  try {
    session.user = (await api().renew()) ? await api().me() : null
  } catch {
    session.user = null
  }
}

export function has(permission: string): boolean {
  return session.user?.permissions?.includes(permission) ?? false
}

export async function signInWithKey(key: string): Promise<void> {
  await api().signInWithKey(key)
  session.user = await api().me()
}

export async function signOut(): Promise<void> {
  try {
    await api().signOut()
  } finally {
    session.user = null
  }
}

/** Go to a provider's sign-in (a link of GET /login/oidc), to come back to this page. */
export function signInWithProvider(link: string): void {
  const url = new URL(link, window.location.href)
  url.searchParams.set('origin', window.location.pathname)
  window.location.assign(url.href)
}
