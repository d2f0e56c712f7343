// How a change-log entry reads: when, who, what, and the fields it changed.
import type { LogEntry } from './api'

const ACTIONS: Record<string, string> = { add: 'created', edit: 'changed', delete: 'deleted' }
const NOT_SHOWN = new Set(['id', 'version', 'created', 'updated'])

export interface EntryText {
  who: string
  what: string
  fields: [string, string][]
}

function valueText(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.join(', ') : '(none)'
  if (value === '' || value === null || value === undefined) return '(empty)'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** The words for an entry, seen by the person whose id is `selfId`. */
export function describe(entry: LogEntry, selfId: string): EntryText {
  const actor = entry.user
  const who =
    actor === selfId
      ? 'you'
      : actor === 'system'
        ? 'the service'
        : actor
          ? `user ${actor}`
          : 'someone'
  const verb = ACTIONS[entry.action] ?? entry.action
  const record = entry.entry_id === selfId ? 'your record' : `the record of user ${entry.entry_id}`
  const what = `${verb} ${record}${entry.comment ? ` (${entry.comment})` : ''}`
  const fields = Object.entries(entry.data ?? {})
    .filter(([name]) => !NOT_SHOWN.has(name))
    .map(([name, value]): [string, string] => [name, valueText(value)])
  return { who, what, fields }
}
