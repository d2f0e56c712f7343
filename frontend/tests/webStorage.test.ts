// The page keeps nothing in the browser beyond the service's own cookies: no web
// storage, no cookie of its own (README, "The web UI"). Everything it needs after a
// reload comes from the service; what it needs across a provider's sign-in travels
// in the sign-in's address.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const SOURCES = join(import.meta.dirname, '..', 'src')
// The browser's stores a page can write to (named at all: a mention in a comment
// counts too, so that each one is looked at), and writing a cookie from script.
const STORES =
  /\b(localStorage|sessionStorage|indexedDB|cookieStore)\b|\bcaches\s*\.|document\.cookie\s*=[^=]/g

function sources(): string[] {
  return readdirSync(SOURCES, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|vue)$/.test(name) && !name.startsWith('generated'))
    .sort()
}

describe('the web UI', () => {
  it('has sources to check', () => {
    expect(sources()).toEqual(expect.arrayContaining(['api.ts', 'session.ts', 'router/index.ts']))
  })

  it('uses no browser storage and writes no cookie', () => {
    const found = sources().flatMap((name) =>
      [...readFileSync(join(SOURCES, name), 'utf8').matchAll(STORES)].map(
        (match) => `${name}: ${match[0]}`,
      ),
    )
    expect(found).toEqual([])
  })

  it('would see one', () => {
    const lines = [
      "sessionStorage.setItem('a', 'b')",
      "window.localStorage['a'] = 'b'",
      'document.cookie = "a=b"',
      "indexedDB.open('a')",
      "caches.open('a')",
    ]
    for (const line of lines) expect(line.match(STORES)).not.toBeNull()
    expect('readCookie(document.cookie, name)'.match(STORES)).toBeNull()
    expect('document.cookie === before'.match(STORES)).toBeNull()
    expect('// no shared caches'.match(STORES)).toBeNull()
  })
})
