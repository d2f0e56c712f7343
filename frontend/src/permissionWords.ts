// Why a user has a permission, in words: "granted by hand", "implied by DATA_EDIT",
// "from lslogin's rule, until 1/2/2027".
import type { PermissionReasons } from './api'

type Reason = PermissionReasons['because'][number]

function day(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleDateString()
}

/** One reason in words. */
export function reasonText(reason: Reason): string {
  if ('granted' in reason) return 'granted by hand'
  if ('implied_by' in reason) return `implied by ${reason.implied_by}`
  return `from ${reason.rule.provider}’s rule, until ${day(reason.rule.until)}`
}
