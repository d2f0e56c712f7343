// A failed login lands on the page with ?login_error=<code>: each code in words.
const MESSAGES: Record<string, string> = {
  invalid_state:
    'The sign-in took too long or was started in another window. Please sign in again.',
  provider_error:
    'The sign-in provider refused the sign-in. Please try again, or use another way to sign in.',
  provider_unavailable:
    'The sign-in provider could not be reached. Please try again in a few minutes.',
  invalid_issuer:
    'The answer did not come from the sign-in provider you chose. Please sign in again; if it keeps failing, tell the administrators.',
  token_exchange_failed: 'The sign-in provider did not confirm the sign-in. Please try again.',
  invalid_id_token:
    'The sign-in provider’s answer could not be trusted. Please try again; if it keeps failing, tell the administrators.',
  email_missing:
    'The sign-in provider did not tell us your email address. Allow it to share your email, then sign in again.',
  email_in_use:
    'An account with your email address already exists, and this sign-in cannot be joined to it by itself. Sign in the way you did before (or with an API key), then open Profile and press “Link” beside this provider under “Sign-in methods”; or ask a user manager to help.',
  identity_taken:
    'This sign-in belongs to another account, so it cannot be linked to yours. Sign in with it to use that account, or ask a user manager to help.',
  not_signed_in:
    'Linking a sign-in needs you to be signed in, and your session has ended. Sign in again, then link from your profile.',
  suspended:
    'Your account is suspended, so you cannot sign in. Please ask a user manager or the administrators why.',
  invalid_profile:
    'The sign-in provider sent a profile this service cannot accept (for example an unusable email address). Please contact the administrators.',
}

/** What happened and what to do, for a `login_error` code. */
export function loginErrorMessage(code: string): string {
  return (
    MESSAGES[code] ??
    `The sign-in failed (${code}). Please try again, or ask the administrators for help.`
  )
}
