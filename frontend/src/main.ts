import { createApp } from 'vue'

import { api } from './api'
import App from './App.vue'
import './assets/main.css'
import { router } from './router'
import { endedElsewhere } from './session'

// A session that ended while the page was open: back to the sign-in page.
api().onSessionEnded = () => {
  endedElsewhere()
  void router.push('/')
}

createApp(App).use(router).mount('#app')
