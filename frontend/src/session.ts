// Who is signed in: the person's record (from GET /user/me) shared by every view.
import { reactive } from 'vue'

import { api, type Permission, type User } from './api'

export const session = reactive({
  user: null as User | null,
  started: false,
  /** The id of the API key this browser's session was made with (not secret), if any:
   * learnt from the access token at each sign-in and page load, never stored. */
  keyId: null as string | null,
})

let starting: Promise<void> | null = null
// Bumped by every sign-in and sign-out: an answer to a request that started
// before one of them is stale and must not bring the person back.
let generation = 0

/** Find out once whether the browser holds a session; resolves when known. */
export function start(): Promise<void> {
  starting ??= refresh().finally(() => {
    session.started = true
  })
  return starting
}

/** Load the signed-in person's record, or none when there is no session. */
export async function refresh(): Promise<void> {
  const started = generation
  let user: User | null
  try {
    user = (await api().renew()) ? await api().me() : null
  } catch {
    user = null
  }
  if (started === generation) {
    session.user = user
    session.keyId = user ? api().sessionKeyId : null
  }
}

/** Whether the signed-in person may do what `permission` allows now (rule grants included). */
export function has(permission: Permission): boolean {
  const user = session.user
  return (user?.effective_permissions ?? user?.permissions)?.includes(permission) ?? false
}

export async function signInWithKey(key: string): Promise<void> {
  const started = ++generation
  await api().signInWithKey(key)
  const user = await api().me()
  if (started === generation) {
    session.user = user
    session.keyId = api().sessionKeyId
  }
}

/** Sign out: the person is gone at once, whatever answers arrive afterwards. */
export async function signOut(): Promise<void> {
  generation++
  session.user = null
  session.keyId = null
  await api().signOut()
}

/** The session ended on the service's side (its key revoked): forget the person here. */
export function endedElsewhere(): void {
  generation++
  session.user = null
  session.keyId = null
  api().forget()
}

/**
 * The address of a provider's sign-in (`link`, a path of GET /login/oidc) from the page
 * at `page`, that brings the browser back to `back`, a page of this UI (a route's full
 * path); with `linking`, it links the provider's identity instead of signing in. The
 * service returns the browser to the `origin` it is given here (after checking that it
 * is a path of this site), with `login_error` in `back`'s query when the sign-in failed:
 * the page to open afterwards travels in the address, and nothing waits in the browser.
 */
export function providerAddress(link: string, back: string, page: string, linking = false): string {
  const here = new URL(page)
  const url = new URL(link, here)
  if (linking) url.searchParams.set('link', '1')
  url.searchParams.set('origin', `${here.pathname}#${back.startsWith('/') ? back : '/'}`)
  return url.href
}

/** Go to a provider's sign-in, to come back to `back` (see providerAddress). */
export function signInWithProvider(link: string, back: string, linking = false): void {
  window.location.assign(providerAddress(link, back, window.location.href, linking))
}
