// What the service's answers hold, checked as they arrive: an answer of another
// shape becomes an UnexpectedAnswer, never a value typed as what it is not.
import type { ApiKeyInfo, LogEntry, PermissionReasons, Person, User } from './api'

export type Check<T> = (value: unknown) => value is T

/** An answer the page cannot read: not the shape the contract gives it. */
export class UnexpectedAnswer extends Error {
  constructor(readonly what: string) {
    super(`The service's answer holds no valid ${what}; reload the page and try again.`)
    this.name = 'UnexpectedAnswer'
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isString(value: unknown): value is string {
  return typeof value === 'string'
}

export function isNumber(value: unknown): value is number {
  return typeof value === 'number'
}

export function isStringOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string'
}

export function listOf<T>(item: Check<T>): Check<T[]> {
  return (value: unknown): value is T[] => Array.isArray(value) && value.every(item)
}

export function recordOf<T>(item: Check<T>): Check<Record<string, T>> {
  return (value: unknown): value is Record<string, T> =>
    isRecord(value) && Object.values(value).every(item)
}

export function isUser(value: unknown): value is User {
  return isRecord(value) && isString(value.id)
}

export function isPermissionReasons(value: unknown): value is PermissionReasons {
  return isRecord(value) && isString(value.name) && listOf(isRecord)(value.because)
}

export function isApiKeyInfo(value: unknown): value is ApiKeyInfo {
  return isRecord(value) && isString(value.id) && isString(value.created)
}

export function isLogEntry(value: unknown): value is LogEntry {
  return (
    isRecord(value) &&
    isString(value.id) &&
    isString(value.action) &&
    isString(value.entry_id) &&
    isString(value.timestamp)
  )
}

export function isPerson(value: unknown): value is Person {
  return isRecord(value) && isStringOrNull(value.name) && typeof value.deleted === 'boolean'
}

/** `body[name]` when it passes `check`; UnexpectedAnswer otherwise. */
export function member<T>(body: unknown, name: string, check: Check<T>): T {
  const value = isRecord(body) ? body[name] : undefined
  if (!check(value)) throw new UnexpectedAnswer(name)
  return value
}

/** `body` when it passes `check`; UnexpectedAnswer naming `what` otherwise. */
export function answer<T>(body: unknown, check: Check<T>, what: string): T {
  if (!check(body)) throw new UnexpectedAnswer(what)
  return body
}
