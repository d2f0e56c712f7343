// Login identities as the service stores them in `auth_ids`.

/** An OpenID Connect identity `<sub>::<provider>` as its provider and subject. */
export function identityParts(identity: string): { provider: string; sub: string } | null {
  const at = identity.lastIndexOf('::')
  return at < 0 ? null : { provider: identity.slice(at + 2), sub: identity.slice(0, at) }
}
