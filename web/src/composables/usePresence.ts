import { shallowReactive } from 'vue'
import type { Api } from '../api/client'
import type { ChatSignal, Profile } from '../api/types'

export interface Presence {
  online: boolean
  last_seen_at: string | null
}

type PresenceSignal = Extract<ChatSignal, { type: 'presence.updated' }>

/**
 * Whether people are online, and when they were last seen (API 1.1 "Typing and
 * presence"): from their profile (GET /users/{id}) and, live, from `presence.updated`
 * on the channel of a direct chat with them. A profile asked for before a live update
 * arrived is older than it and does not overwrite it.
 */
export function usePresence(api: Pick<Api, 'profile'>) {
  const known = shallowReactive(new Map<number, Presence>())
  /** How many live updates each user has had: a profile fetched across one is stale. */
  const live = new Map<number, number>()
  const inflight = new Map<number, Promise<Profile>>()

  function set(userId: number, p: Presence): void {
    const old = known.get(userId)
    if (old && old.online === p.online && old.last_seen_at === p.last_seen_at) return
    known.set(userId, { online: p.online, last_seen_at: p.last_seen_at })
  }

  /** A profile the client loaded (it carries online and last_seen_at). */
  function learn(p: Profile): void {
    set(p.id, p)
  }

  function apply(ev: PresenceSignal): void {
    live.set(ev.user_id, (live.get(ev.user_id) ?? 0) + 1)
    set(ev.user_id, ev)
  }

  /** Loads the user's profile (one request at a time per user) and takes its presence, unless a live update came meanwhile. */
  function refresh(userId: number): Promise<Profile> {
    const running = inflight.get(userId)
    if (running) return running
    const before = live.get(userId) ?? 0
    const p = api.profile(userId).then((profile) => {
      if ((live.get(userId) ?? 0) === before) learn(profile)
      return profile
    })
    inflight.set(userId, p)
    const done = () => inflight.delete(userId)
    p.then(done, done)
    return p
  }

  function get(userId: number): Presence | null {
    return known.get(userId) ?? null
  }

  return { learn, apply, refresh, get }
}

export type PresenceStore = ReturnType<typeof usePresence>
