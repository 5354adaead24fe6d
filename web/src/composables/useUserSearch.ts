import { onScopeDispose, ref, watch, type Ref } from 'vue'
import type { Api } from '../api/client'
import { errorMessage } from '../api/errors'
import type { User } from '../api/types'

/**
 * People by name prefix as the user types (GET /users?prefix=), 250 ms after the last
 * key; the answers to older queries are dropped. `exclude` leaves out people who are
 * already there (the user, a group's members).
 */
export function useUserSearch(api: Pick<Api, 'searchUsers'>, query: Ref<string>, exclude: () => Set<number>) {
  const results = ref<User[]>([])
  const searching = ref(false)
  const error = ref<string | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null
  let seq = 0

  watch(query, (q) => {
    if (timer) clearTimeout(timer)
    const prefix = q.trim()
    const my = ++seq
    if (!prefix) {
      results.value = []
      searching.value = false
      return
    }
    searching.value = true
    timer = setTimeout(async () => {
      try {
        const res = await api.searchUsers(prefix, 20)
        if (my !== seq) return
        const skip = exclude()
        results.value = res.users.filter((u) => !skip.has(u.id))
        error.value = null
      } catch (err) {
        if (my === seq) error.value = errorMessage(err, 'search-users')
      } finally {
        if (my === seq) searching.value = false
      }
    }, 250)
  })

  onScopeDispose(() => timer && clearTimeout(timer))
  return { results, searching, error }
}
