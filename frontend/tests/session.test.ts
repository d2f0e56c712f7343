import { describe, expect, it } from 'vitest'

import { keyIdOf } from '../src/session'

describe('keyIdOf', () => {
  it('reads the key id of a key of the current form, whatever its prefix', () => {
    const owner = '1' + 'ab'.repeat(16)
    const secret = 'Zz09'.repeat(10) + 'abc'
    expect(keyIdOf(`uk_${owner}0123456789abcdef${secret}A1b2C3`)).toBe('0123456789abcdef')
    expect(keyIdOf(`acme_${owner}fedcba9876543210${secret}A1b2C3`)).toBe('fedcba9876543210')
  })

  it('reads the key id of an older key', () => {
    expect(keyIdOf('uk_0123456789abcdef01234567.00112233aabbccdd.secret')).toBe('00112233aabbccdd')
  })

  it('finds none in what is not a key', () => {
    expect(keyIdOf('nope')).toBeNull()
    expect(keyIdOf(`uk_${'1'.repeat(48)}`)).toBeNull()
  })
})
