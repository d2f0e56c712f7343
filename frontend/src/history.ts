// How a change-log entry reads to a person: when, who, what, and per field what it
// was before and what it became, with no internal values (API.md section 7).
import type { LogEntry, Person } from './api'
import { formatTime } from './time'

/** Someone an entry names: the words, and the user's id when a manager may open their page. */
export interface PersonRef {
  text: string
  userId: string | null
}

/** One changed field: its label, the value before (null when the entry did not keep it) and after. */
export interface FieldChange {
  label: string
  from: string | null
  to: string
}

export interface EntryText {
  who: PersonRef
  what: string
  record: PersonRef | null
  changes: FieldChange[]
}

/** Who reads the history, and the people its page names. */
export interface Reader {
  selfId: string
  people: Record<string, Person>
  /** Whether the reader may open other people's pages (USER_MANAGEMENT). */
  manager: boolean
  /** A record's log (all entries about one record) or a person's actions. */
  kind: 'log' | 'actions'
}

const LABELS: Record<string, string> = {
  name: 'Name',
  email: 'Email',
  affiliation: 'Affiliation',
  contact: 'Contact',
  orcid: 'ORCID iD',
  url: 'Web page',
  permissions: 'Permissions',
  suspended: 'Suspended',
}

function valueText(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.join(', ') : '(none)'
  if (value === true) return 'yes'
  if (value === false) return 'no'
  if (value === '' || value === null || value === undefined) return '(empty)'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** A user id in words: "you", "the service", their name, or "a deleted user". */
export function personRef(userId: string | undefined, reader: Reader): PersonRef {
  if (userId === reader.selfId) return { text: 'you', userId: null }
  if (userId === 'system' || userId === undefined) return { text: 'the service', userId: null }
  const person = reader.people[userId]
  if (person?.deleted) return { text: 'a deleted user', userId: null }
  return { text: person?.name ?? 'a user without a name', userId: reader.manager ? userId : null }
}

function recordRef(entry: LogEntry, reader: Reader, owner: boolean): PersonRef {
  if (entry.entry_id === reader.selfId) return { text: owner ? 'you' : 'your record', userId: null }
  if (reader.kind === 'log') return { text: owner ? 'this user' : 'this record', userId: null }
  const person = personRef(entry.entry_id, reader)
  if (owner) return person
  return {
    ...person,
    text:
      person.text === 'a deleted user' ? "a deleted user's record" : `the record of ${person.text}`,
  }
}

function keyName(data: Record<string, unknown>): string {
  return typeof data.name === 'string' && data.name ? `the API key '${data.name}'` : 'an API key'
}

function providers(entry: LogEntry): string[] {
  const after = (entry.data?.auth_ids as string[] | undefined) ?? []
  const before = new Set((entry.old?.auth_ids as string[] | undefined) ?? [])
  const added = after.filter((id) => id.includes('::') && !before.has(id))
  const linked = added.length
    ? added
    : [/identity (\S+::\S+) linked/.exec(entry.comment ?? '')?.[1] ?? '']
  return linked.filter(Boolean).map((id) => id.slice(id.lastIndexOf('::') + 2))
}

function fieldChanges(entry: LogEntry): FieldChange[] {
  const data = entry.data ?? {}
  return Object.entries(data)
    .filter(([name]) => name in LABELS)
    .filter(
      ([, value]) => entry.action !== 'add' || !['(empty)', '(none)'].includes(valueText(value)),
    )
    .map(([name, value]) => ({
      label: LABELS[name] ?? name,
      from:
        entry.action === 'edit' && entry.old && name in entry.old
          ? valueText(entry.old[name])
          : null,
      to: valueText(value),
    }))
}

/** The words for an entry of a record's log or of a person's actions. */
export function describe(entry: LogEntry, reader: Reader): EntryText {
  const who = personRef(entry.user, reader)
  const record = recordRef(entry, reader, false)
  const data = entry.data ?? {}
  if (entry.action === 'add') return { who, what: 'created', record, changes: fieldChanges(entry) }
  if (entry.action === 'delete') return { who, what: 'deleted', record, changes: [] }
  const comment = entry.comment ?? ''
  if ('key_id' in data || /^API key /.test(comment)) {
    const expires = typeof data.expires === 'string' ? ` (expires ${formatTime(data.expires)})` : ''
    if ('rotates' in data || / by rotating /.test(comment)) {
      const notes = [
        typeof data.expires === 'string' ? `the new one expires ${formatTime(data.expires)}` : '',
        typeof data.old_key_expires === 'string'
          ? `the old one works until ${formatTime(data.old_key_expires)}`
          : '',
      ].filter(Boolean)
      const what = `rotated ${keyName(data)}${notes.length ? ` (${notes.join('; ')})` : ''} of`
      return { who, what, record, changes: [] }
    }
    const made = / made/.test(comment)
    const what = made ? `made ${keyName(data)}${expires} for` : `revoked ${keyName(data)} of`
    return { who, what, record, changes: [] }
  }
  const linked = providers(entry)
  if (linked.length && Object.keys(data).every((name) => name === 'auth_ids')) {
    return {
      who: recordRef(entry, reader, true),
      what: `signed in with ${linked.join(' and ')} for the first time`,
      record: null,
      changes: [],
    }
  }
  return { who, what: 'changed', record, changes: fieldChanges(entry) }
}
