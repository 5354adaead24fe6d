import type { RealtimeClient, RealtimeSubscription } from '../src/composables/useRealtime'

/** A fake Centrifuge client that records what the composable did and lets tests emit events. */
export class FakeEmitter {
  handlers = new Map<string, ((ctx: any) => void)[]>()
  on(ev: string, fn: (ctx: any) => void) {
    this.handlers.set(ev, [...(this.handlers.get(ev) ?? []), fn])
    return this
  }
  emit(ev: string, ctx: any = {}) {
    for (const fn of this.handlers.get(ev) ?? []) fn(ctx)
  }
}

export class FakeSub extends FakeEmitter implements RealtimeSubscription {
  subscribed = false
  constructor(public channel: string, public getToken: (ctx: { channel: string }) => Promise<string>) {
    super()
  }
  subscribe() {
    this.subscribed = true
  }
  unsubscribe() {
    this.subscribed = false
  }
}

export class FakeClient extends FakeEmitter implements RealtimeClient {
  subs = new Map<string, FakeSub>()
  connected = false
  constructor(public url: string, public opts: { token: string; getToken: () => Promise<string> }) {
    super()
  }
  connect() {
    this.connected = true
    this.emit('connecting', { code: 0, reason: 'connect called' })
  }
  disconnect() {
    this.connected = false
  }
  newSubscription(channel: string, opts: { getToken: (ctx: { channel: string }) => Promise<string> }) {
    if (this.subs.has(channel)) throw new Error('duplicate subscription ' + channel)
    const s = new FakeSub(channel, opts.getToken)
    this.subs.set(channel, s)
    return s
  }
  removeSubscription(sub: RealtimeSubscription) {
    this.subs.delete(sub.channel)
  }
}

