// Who is signed in: the person's record (from GET /user/me) shared by every view.
import { reactive } from 'vue'

import { api, type User } from './api'

const KEY_ID_ITEM = 'users.session-key'

export const session = reactive({
  user: null as User | null,
  started: false,
  /** The id of the API key this browser's session was made with (not secret), if any. */
  keyId: sessionStorage.getItem(KEY_ID_ITEM),
})

/**
 * The id part of an API key, or null. A key reads `<prefix>_<digit naming the form of
 * the owner's id><owner's id, 32 hex><key id, 16 hex><secret, 43><check, 6>`; an older
 * one `uk_<user id>.<key id>.<secret>` (the service's key_format.py).
 */
export function keyIdOf(key: string): string | null {
  const parts = key.split('.')
  if (parts.length === 3) return parts[1] || null
  const found = /^[a-z0-9]{2,16}_[012][0-9a-f]{32}([0-9a-f]{16})[0-9A-Za-z]{49}$/.exec(key)
  return found ? found[1] : null
}

function rememberKey(keyId: string | null): void {
  session.keyId = keyId
  if (keyId) sessionStorage.setItem(KEY_ID_ITEM, keyId)
  else sessionStorage.removeItem(KEY_ID_ITEM)
}

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
  if (started === generation) session.user = user
}

/** Whether the signed-in person may do what `permission` allows now (rule grants included). */
export function has(permission: string): boolean {
  const user = session.user
  return (user?.effective_permissions ?? user?.permissions)?.includes(permission) ?? false
}

export async function signInWithKey(key: string): Promise<void> {
  const started = ++generation
  await api().signInWithKey(key)
  const user = await api().me()
  if (started === generation) {
    session.user = user
    rememberKey(keyIdOf(key))
  }
}

/** Sign out: the person is gone at once, whatever answers arrive afterwards. */
export async function signOut(): Promise<void> {
  generation++
  session.user = null
  rememberKey(null)
  await api().signOut()
}

/** The session ended on the service's side (its key revoked): forget the person here. */
export function endedElsewhere(): void {
  generation++
  session.user = null
  rememberKey(null)
  api().forget()
}

/** Go to a provider's sign-in (a link of GET /login/oidc), to come back to this page. */
export function signInWithProvider(link: string): void {
  const url = new URL(link, window.location.href)
  url.searchParams.set('origin', window.location.pathname)
  window.location.assign(url.href)
}
