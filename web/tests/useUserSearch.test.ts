import { effectScope, nextTick, ref } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { UserList } from '../src/api/types'
import { useUserSearch } from '../src/composables/useUserSearch'
import { alice, bob } from './fixtures'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

function setup(answer: (prefix: string) => Promise<UserList>) {
  const query = ref('')
  const api = { searchUsers: vi.fn(answer) }
  const s = effectScope().run(() => useUserSearch(api as any, query, () => new Set([alice.id])))!
  return { query, api, s }
}

describe('useUserSearch', () => {
  it('asks 250 ms after the last key, once, and leaves out the excluded', async () => {
    const { query, api, s } = setup(async () => ({ users: [alice, bob] }))
    query.value = 'a'
    await nextTick()
    query.value = 'ab'
    await nextTick()
    expect(s.searching.value).toBe(true)
    await vi.advanceTimersByTimeAsync(249)
    expect(api.searchUsers).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(api.searchUsers).toHaveBeenCalledExactlyOnceWith('ab', 20)
    expect(s.results.value).toEqual([bob])
    expect(s.searching.value).toBe(false)
  })

  it('drops the answer to an older query', async () => {
    let release: (v: UserList) => void = () => {}
    const { query, s } = setup((prefix) =>
      prefix === 'slow' ? new Promise((r) => (release = r)) : Promise.resolve({ users: [{ id: 9, name: 'fast' }] }),
    )
    query.value = 'slow'
    await nextTick()
    await vi.advanceTimersByTimeAsync(250)
    query.value = 'fast'
    await nextTick()
    await vi.advanceTimersByTimeAsync(250)
    release({ users: [bob] })
    await vi.advanceTimersByTimeAsync(0)
    expect(s.results.value).toEqual([{ id: 9, name: 'fast' }])
  })

  it('an empty query clears the results; a failure says so', async () => {
    const { query, s } = setup(async () => {
      throw new ApiError(503, 'unavailable', 'down')
    })
    query.value = 'x'
    await nextTick()
    await vi.advanceTimersByTimeAsync(250)
    expect(s.error.value).toMatch(/temporarily unavailable/)
    query.value = ' '
    await nextTick()
    expect([s.results.value, s.searching.value]).toEqual([[], false])
  })
})
