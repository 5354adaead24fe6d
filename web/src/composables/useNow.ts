import { onScopeDispose, ref, type Ref } from 'vue'

/**
 * The current time as a ref that moves every `everyMs`, for labels relative to now
 * ("last seen 5 minutes ago") that must change as time passes without anything else
 * changing. Stops with the scope that created it.
 */
export function useNow(everyMs = 15_000, clock: () => number = Date.now): Ref<number> {
  const now = ref(clock())
  const timer = setInterval(() => (now.value = clock()), everyMs)
  onScopeDispose(() => clearInterval(timer))
  return now
}
