import { createRouter, createWebHashHistory } from 'vue-router'
import { isSignedIn } from './stores/session'
import AuthView from './views/AuthView.vue'
import MessengerView from './views/MessengerView.vue'
import ChatEmpty from './components/chat/ChatEmpty.vue'
import ChatPane from './components/chat/ChatPane.vue'

// Hash history: the gateway serves web/dist as static files, so every client route
// must resolve to index.html without server-side fallbacks.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/login', name: 'login', component: AuthView },
    {
      path: '/',
      component: MessengerView,
      children: [
        { path: '', name: 'home', component: ChatEmpty },
        { path: 'chat/:id(\\d+)', name: 'chat', component: ChatPane, props: (r) => ({ chatId: Number(r.params.id) }) },
      ],
    },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  if (to.name !== 'login' && !isSignedIn()) return { name: 'login' }
  if (to.name === 'login' && isSignedIn()) return { name: 'home' }
  return true
})
