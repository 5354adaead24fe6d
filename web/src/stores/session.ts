import { reactive, readonly } from 'vue'
import type { User } from '../api/types'

/**
 * The session: the only global state of the client. The token lives in localStorage so
 * a reload keeps the user signed in; signing out (or a 401) clears it, in every tab.
 */
const KEY = 'logchat.session'

interface SessionState {
  token: string | null
  user: User | null
}

/** Why the last session ended: the user signed out, or the server refused the token (401). */
export type SignOutReason = 'user' | 'expired'
let lastReason: SignOutReason = 'user'
export function signOutReason(): SignOutReason {
  return lastReason
}

function read(): SessionState {
  try {
    const raw = localStorage.getItem(KEY)
    if (!raw) return { token: null, user: null }
    const v = JSON.parse(raw) as Partial<SessionState>
    if (typeof v.token === 'string' && v.user && typeof v.user.id === 'number' && typeof v.user.name === 'string') {
      return { token: v.token, user: { id: v.user.id, name: v.user.name } }
    }
  } catch {
    // unreadable: start signed out
  }
  return { token: null, user: null }
}

const state = reactive<SessionState>(read())

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key === KEY || e.key === null) Object.assign(state, read())
  })
}

export const session = readonly(state)

export function signIn(token: string, user: User): void {
  state.token = token
  state.user = { id: user.id, name: user.name }
  localStorage.setItem(KEY, JSON.stringify(state))
}

export function signOut(reason: SignOutReason = 'user'): void {
  if (state.token !== null) lastReason = reason
  state.token = null
  state.user = null
  localStorage.removeItem(KEY)
}

export function isSignedIn(): boolean {
  return state.token !== null && state.user !== null
}
