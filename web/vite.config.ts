/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The gateway serves dist/ at its origin and the API at /api/v1 beside it, so the
// client uses relative URLs; `npm run dev` proxies the API to a locally running stack.
const gateway = process.env.LOGCHAT_GATEWAY ?? 'http://127.0.0.1:8080'

export default defineConfig({
  base: './',
  plugins: [vue()],
  server: {
    port: 5173,
    proxy: { '/api': gateway },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
})
