import { createApp } from 'vue'

import { api } from './api'
import App from './App.vue'
import './assets/main.css'
import { router } from './router'
import { session } from './session'

// A session that ended while the page was open: back to the sign-in page.
api().onSessionEnded = () => {
  session.user = null
  void router.push('/')
}

createApp(App).use(router).mount('#app')
