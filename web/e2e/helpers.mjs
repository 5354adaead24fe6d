// Shared helpers of the browser tests: the stack's URL, API calls for seeding and
// checking, a Chromium launcher, and sign-in through the UI.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { chromium } from 'playwright-core'

export const BASE_URL = (process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
export const API = BASE_URL + '/api/v1'
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')
mkdirSync(ARTIFACTS, { recursive: true })

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  })
}

/** Calls the API; retries 429 and 503 as the contract allows. Throws on other errors. */
export async function api(path, { method = 'GET', token, body } = {}) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(API + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    })
    if ((res.status === 429 || res.status === 503) && attempt < 20) {
      const wait = Number(res.headers.get('Retry-After')) || 0.2
      await new Promise((r) => setTimeout(r, Math.min(wait, 2) * 1000))
      continue
    }
    const text = await res.text()
    const data = text ? JSON.parse(text) : null
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return data
  }
}

/** A fresh name that cannot collide with earlier runs: letters, digits and "_" only. */
export function freshName(prefix) {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

export const PASSWORD = 'correct-horse-battery'

export async function registerUser(prefix) {
  const name = freshName(prefix)
  const res = await api('/auth/register', { method: 'POST', body: { name, password: PASSWORD } })
  return { ...res.user, token: res.token, password: PASSWORD }
}

export async function directChat(owner, other) {
  return api('/chats', { method: 'POST', token: owner.token, body: { member_ids: [other.id] } })
}

export async function send(user, chatId, text, clientId = randomBytes(8).toString('hex')) {
  return (await api(`/chats/${chatId}/messages`, { method: 'POST', token: user.token, body: { text, client_id: clientId } })).message
}

/** All messages of a chat, oldest first, read page by page through the API. */
export async function history(user, chatId) {
  const all = []
  let before
  for (;;) {
    const q = before ? `?before=${before}&limit=200` : '?limit=200'
    const page = await api(`/chats/${chatId}/messages${q}`, { token: user.token })
    all.unshift(...page.messages)
    if (!page.has_more || page.messages.length === 0) return all
    before = page.messages[0].id
  }
}

/** Polls fn until it returns a truthy value; fails with the message after the deadline. */
export async function eventually(fn, message, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * A browser context and page for a user. Records page errors and dialogs (an alert
 * would mean injected script ran) so tests can assert there were none.
 */
export async function openPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } })
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const problems = { dialogs: [], errors: [] }
  page.on('dialog', (d) => {
    problems.dialogs.push(d.message())
    void d.dismiss().catch(() => {})
  })
  page.on('pageerror', (e) => problems.errors.push(String(e)))
  return { context, page, problems }
}

/** Signs in through the sign-in form and waits for the messenger with a live connection. */
export async function signIn(page, user) {
  await page.goto(BASE_URL + '/')
  await page.getByTestId('auth-form').waitFor()
  await page.getByTestId('auth-tab-signin').click()
  await page.getByTestId('auth-name').fill(user.name)
  await page.getByTestId('auth-password').fill(user.password)
  await page.getByTestId('auth-submit').click()
  await waitConnected(page)
}

export async function waitConnected(page) {
  await page.getByTestId('messenger').waitFor()
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor()
}

export function chatItem(page, chatId) {
  return page.locator(`[data-testid="chat-item"][data-chat-id="${chatId}"]`)
}

export async function openChat(page, chatId) {
  await chatItem(page, chatId).click()
  await page.locator(`[data-testid="chat-pane"][data-chat-id="${chatId}"]`).waitFor()
}

/** Types into the composer and presses Enter. */
export async function sendFromComposer(page, text) {
  const input = page.getByTestId('composer-input')
  await input.fill(text)
  await input.press('Enter')
}

export function messageByText(page, text) {
  return page.getByTestId('message').filter({ has: page.getByTestId('message-text').getByText(text, { exact: true }) })
}

/** Waits until the message with this text is shown as sent (a server copy) and returns its id. */
export async function sentMessageId(page, text) {
  const sent = messageByText(page, text).and(page.locator('[data-status="sent"]'))
  await sent.waitFor()
  return Number(await sent.getAttribute('data-mid'))
}

/**
 * Waits until the open chat has applied the message.created publication of message `id`
 * (the pane's data-live-max-id). A chat's publications arrive in id order, so every
 * message up to `id` has then come by every route it takes — history, the send's answer,
 * the publication — and "shown once" can be asserted without waiting a fixed time for a
 * late copy.
 */
export async function waitLiveApplied(page, id) {
  await page.waitForFunction(
    (id) => Number(document.querySelector('[data-testid="chat-pane"]')?.dataset.liveMaxId ?? 0) >= id,
    id,
  )
}

/** Whether a message (a locator inside the message list) is wholly inside the list's visible part. */
export function inListView(locator) {
  return locator.evaluate((node) => {
    const list = node.closest('[data-testid="message-list"]').getBoundingClientRect()
    const r = node.getBoundingClientRect()
    return r.top >= list.top - 1 && r.bottom <= list.bottom + 1
  })
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png') })
}
