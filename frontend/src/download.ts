// Saving a document the service answered as a file on the person's computer.
import type { User } from './api'

/** `<name or email>-<YYYY-MM-DD>.json`: a file name for a person's export, safe on any system. */
export function exportFileName(user: Pick<User, 'name' | 'email' | 'id'>, day: Date): string {
  const who = (user.name || user.email || user.id)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
  return `${who || user.id}-data-${day.toISOString().slice(0, 10)}.json`
}

/** Offer `document` as a JSON file named `fileName`, as a download link would. */
export function saveJson(
  document: unknown,
  fileName: string,
  page: Document = window.document,
): void {
  const blob = new Blob([JSON.stringify(document, null, 2)], { type: 'application/json' })
  const url = URL.createObjectURL(blob)
  const link = page.createElement('a')
  link.href = url
  link.download = fileName
  page.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 0)
}
