"""Who calls: cookies, sessions and access tokens, the authorizer's decision, API
keys' use, OpenID Connect login and the identities it links."""
