// Presence (API 1.1): online / last seen from profiles and live publications, and the
// label that moves on as time passes.
import { computed, effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Profile } from '../src/api/types'
import { useNow } from '../src/composables/useNow'
import { usePresence } from '../src/composables/usePresence'
import { lastSeenLabel } from '../src/lib/people'

function profile(id: number, over: Partial<Profile> = {}): Profile {
  return { id, name: 'u' + id, avatar_url: null, about: '', online: false, last_seen_at: null, ...over }
}

/** A promise and its resolver, to answer a request when the test says. */
function deferred<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('usePresence', () => {
  it('takes presence from a profile, then from live publications', async () => {
    const api = { profile: vi.fn(async (id: number) => profile(id, { online: true })) }
    const p = usePresence(api)
    expect(p.get(7)).toBeNull()
    await p.refresh(7)
    expect(p.get(7)).toEqual({ online: true, last_seen_at: null })
    p.apply({ type: 'presence.updated', user_id: 7, online: false, last_seen_at: '2026-11-27T10:00:00.000Z' })
    expect(p.get(7)).toEqual({ online: false, last_seen_at: '2026-11-27T10:00:00.000Z' })
  })

  it('a profile asked for before a live update does not overwrite it', async () => {
    const answer = deferred<Profile>()
    const api = { profile: vi.fn((_id: number) => answer.promise) }
    const p = usePresence(api)
    const asked = p.refresh(7)
    p.apply({ type: 'presence.updated', user_id: 7, online: true, last_seen_at: null })
    answer.resolve(profile(7, { online: false, last_seen_at: '2026-11-27T09:00:00.000Z' }))
    // The caller still gets the profile (its name, about…).
    expect((await asked).last_seen_at).toBe('2026-11-27T09:00:00.000Z')
    expect(p.get(7)).toEqual({ online: true, last_seen_at: null })
  })

  it('asks once for a user while a request for them is on its way', async () => {
    const answer = deferred<Profile>()
    const api = { profile: vi.fn((_id: number) => answer.promise) }
    const p = usePresence(api)
    const a = p.refresh(7)
    const b = p.refresh(7)
    expect(api.profile).toHaveBeenCalledTimes(1)
    answer.resolve(profile(7, { online: true }))
    await Promise.all([a, b])
    api.profile.mockImplementation(async (id: number) => profile(id))
    await p.refresh(7)
    expect(api.profile).toHaveBeenCalledTimes(2)
    expect(p.get(7)?.online).toBe(false)
  })
})

describe('lastSeenLabel as time passes', () => {
  const seenAt = '2026-11-27T11:55:00.000Z'
  it('online wins; null is nothing; minutes count up, then the clock time', () => {
    const at = (iso: string) => lastSeenLabel(false, seenAt, new Date(iso))
    expect(lastSeenLabel(true, seenAt, new Date(seenAt))).toBe('online')
    expect(lastSeenLabel(false, null, new Date(seenAt))).toBeNull()
    expect(at('2026-11-27T11:55:20.000Z')).toBe('last seen just now')
    expect(at('2026-11-27T11:56:00.000Z')).toBe('last seen 1 minute ago')
    expect(at('2026-11-27T12:00:00.000Z')).toBe('last seen 5 minutes ago')
    expect(at('2026-11-27T12:54:59.000Z')).toBe('last seen 59 minutes ago')
    expect(at('2026-11-27T12:56:00.000Z')).toMatch(/^last seen (today at|yesterday at) /)
  })
})

describe('useNow', () => {
  beforeEach(() => vi.useFakeTimers({ now: Date.parse('2026-11-27T11:55:00.000Z') }))
  afterEach(() => vi.useRealTimers())

  it('moves a relative label on by itself, and stops with its scope', () => {
    const scope = effectScope()
    const label = scope.run(() => {
      const now = useNow(15_000)
      return computed(() => lastSeenLabel(false, '2026-11-27T11:55:00.000Z', new Date(now.value)))
    })!
    expect(label.value).toBe('last seen just now')
    vi.advanceTimersByTime(60_000)
    expect(label.value).toBe('last seen 1 minute ago')
    vi.advanceTimersByTime(4 * 60_000)
    expect(label.value).toBe('last seen 5 minutes ago')
    scope.stop()
    expect(vi.getTimerCount()).toBe(0)
  })
})
