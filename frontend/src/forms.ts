// Turning records into form values and form values into PATCH bodies.
import type { ProfileForm } from './components/ProfileFields.vue'
import type { User } from './api'

export const PROFILE_FIELDS = ['name', 'affiliation', 'contact', 'orcid', 'url'] as const

export function profileForm(user: User | null): ProfileForm {
  return {
    name: user?.name ?? '',
    affiliation: user?.affiliation ?? '',
    contact: user?.contact ?? '',
    orcid: user?.orcid ?? '',
    url: user?.url ?? '',
  }
}

/** The fields of `form` whose value differs from `user`'s (what a PATCH should send). */
export function changedFields(user: User, form: Record<string, unknown>): Partial<User> {
  const changes: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(form)) {
    const current = (user as unknown as Record<string, unknown>)[name]
    const same = Array.isArray(value)
      ? Array.isArray(current) && sameSet(value as string[], current as string[])
      : (current ?? '') === value
    if (!same) changes[name] = value
  }
  return changes as Partial<User>
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item) => b.includes(item))
}

/** The values a person filled in, empty ones left out (for creating a record). */
export function filledFields(form: Record<string, unknown>): Partial<User> {
  return Object.fromEntries(
    Object.entries(form).filter(([, value]) =>
      Array.isArray(value) ? value.length : value !== '',
    ),
  ) as Partial<User>
}

/** An error's words for the person, from an ApiError or anything thrown. */
export function messageOf(exc: unknown): string {
  return exc instanceof Error ? exc.message : String(exc)
}

/** A random Idempotency-Key (128 bits, hex); works outside secure contexts too. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
