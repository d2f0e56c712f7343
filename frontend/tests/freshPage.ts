// Run before each test file (`setupFiles`): the files share one worker and its page
// (`isolate: false` in vite.config.ts), so each starts here as on a page of its own:
// the web UI's modules loaded afresh (the session, the router, the page's one Api),
// an empty document and web storage, at the address `/`.
import { vi } from 'vitest'

vi.resetModules()
document.head.replaceChildren()
document.body.replaceChildren()
document.title = ''
window.localStorage.clear()
window.sessionStorage.clear()
window.history.replaceState(null, '', '/')
