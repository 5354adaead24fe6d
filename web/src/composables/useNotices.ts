import { inject, provide, ref, type InjectionKey, type Ref } from 'vue'

export interface Notice {
  id: number
  text: string
  kind: 'error' | 'info'
}

export interface Notices {
  list: Ref<Notice[]>
  error: (text: string) => void
  info: (text: string) => void
  dismiss: (id: number) => void
}

const KEY: InjectionKey<Notices> = Symbol('notices')

/** Short-lived messages (mostly API errors) shown in a corner; provided by the app root. */
export function provideNotices(opts: { timeoutMs?: number; muteErrors?: () => boolean } = {}): Notices {
  const timeoutMs = opts.timeoutMs ?? 6000
  const list = ref<Notice[]>([])
  let seq = 0
  function push(text: string, kind: Notice['kind']) {
    // The same error twice in a row (a retry loop) is shown once.
    if (list.value.some((n) => n.text === text)) return
    const id = ++seq
    list.value = [...list.value, { id, text, kind }]
    setTimeout(() => dismiss(id), timeoutMs)
  }
  function dismiss(id: number) {
    list.value = list.value.filter((n) => n.id !== id)
  }
  const notices: Notices = {
    list,
    error: (t) => {
      if (!opts.muteErrors?.()) push(t, 'error')
    },
    info: (t) => push(t, 'info'),
    dismiss,
  }
  provide(KEY, notices)
  return notices
}

export function useNotices(): Notices {
  const n = inject(KEY, null)
  if (!n) throw new Error('useNotices outside provideNotices')
  return n
}
