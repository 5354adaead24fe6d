import { describe, expect, it } from 'vitest'
import { cropRect } from '../src/lib/crop'

describe('avatar crop', () => {
  it('starts with the centred square of the shorter side', () => {
    expect(cropRect({ w: 800, h: 400, view: 200, zoom: 1, dx: 0, dy: 0 })).toEqual({ x: 200, y: 0, size: 400 })
    expect(cropRect({ w: 300, h: 600, view: 300, zoom: 1, dx: 0, dy: 0 })).toEqual({ x: 0, y: 150, size: 300 })
  })

  it('zooming in takes a smaller square around the same centre', () => {
    expect(cropRect({ w: 400, h: 400, view: 200, zoom: 2, dx: 0, dy: 0 })).toEqual({ x: 100, y: 100, size: 200 })
  })

  it('moving the image right shows more of its left side, in image pixels', () => {
    // view 200 over 400 px: one viewport pixel is two image pixels.
    expect(cropRect({ w: 800, h: 400, view: 200, zoom: 1, dx: 50, dy: 0 })).toEqual({ x: 100, y: 0, size: 400 })
  })

  it('never leaves the image', () => {
    expect(cropRect({ w: 800, h: 400, view: 200, zoom: 1, dx: 10_000, dy: -10_000 })).toEqual({ x: 0, y: 0, size: 400 })
    expect(cropRect({ w: 800, h: 400, view: 200, zoom: 1, dx: -10_000, dy: 0 })).toEqual({ x: 400, y: 0, size: 400 })
    expect(cropRect({ w: 400, h: 400, view: 200, zoom: 0.5, dx: 0, dy: 0 })).toEqual({ x: 0, y: 0, size: 400 })
  })
})
