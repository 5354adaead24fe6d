/**
 * JSON in localStorage, per signed-in user, for what is worth keeping across a reload but
 * not worth a server round trip: drafts and unsent messages. Storage may be missing, full
 * or refused (private mode); then nothing is kept and nothing breaks.
 */
export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

export function browserStorage(): KeyValueStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage
  } catch {
    return null
  }
}

export function userKey(what: string, userId: number): string {
  return `logchat.${what}.${userId}`
}

export function readJson(storage: KeyValueStorage | null, key: string): unknown {
  if (!storage) return null
  try {
    const raw = storage.getItem(key)
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

/** Writes value, or removes the key for null and empty collections (nothing to keep). */
export function writeJson(storage: KeyValueStorage | null, key: string, value: unknown): void {
  if (!storage) return
  try {
    const empty = value === null || (Array.isArray(value) && value.length === 0) ||
      (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)
    if (empty) storage.removeItem(key)
    else storage.setItem(key, JSON.stringify(value))
  } catch {
    // Full or refused: the draft lives as long as the page.
  }
}
