// Complete API records for tests, from the generated types: only what a test cares about is given.
import type { LogEntry, User } from '../src/api'

export function userRecord(fields: Partial<User> & Pick<User, 'id'>): User {
  return {
    email: `${fields.id}@example.org`,
    email_verified: true,
    name: '',
    affiliation: '',
    contact: '',
    orcid: '',
    url: '',
    permissions: [],
    rule_permissions: [],
    auth_ids: [],
    suspended: false,
    version: 1,
    created: '2026-01-01T00:00:00Z',
    updated: '2026-01-01T00:00:00Z',
    ...fields,
    // Without rule grants, what a user may do is what was granted by hand.
    effective_permissions: fields.permissions ?? [],
  }
}

export function logEntry(
  fields: Partial<LogEntry> & Pick<LogEntry, 'id' | 'action' | 'entry_id'>,
): LogEntry {
  return { comment: '', data_type: 'user', timestamp: '2026-01-01T00:00:00Z', ...fields }
}
