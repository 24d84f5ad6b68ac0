import { Access } from './access';

describe('gateway access', () => {
  const access = new Access(new Map([['shop-token-0123456789abcdefghij', 'shop'], ['other-token-0123456789abcdefghi', 'other']]), 5);

  it('knows a client by its bearer token and refuses anything else with 401', () => {
    expect(access.admit('Bearer shop-token-0123456789abcdefghij', 0)).toEqual({ client: 'shop' });
    for (const h of [undefined, '', 'shop-token-0123456789abcdefghij', 'Basic c2hvcA==', 'Bearer shop-token-0123456789abcdefghiX', 'Bearer shop-token'])
      expect(access.admit(h, 0)).toMatchObject({ status: 401, headers: { 'content-type': 'application/problem+json' } });
  });

  it('gives each client its own rate: over it 429 with Retry-After, then refilled with time', () => {
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) expect(access.admit('Bearer other-token-0123456789abcdefghi', t0)).toEqual({ client: 'other' });
    expect(access.admit('Bearer other-token-0123456789abcdefghi', t0)).toMatchObject({ status: 429, headers: { 'retry-after': '1' } });
    // Another client is not held back by it.
    expect(access.admit('Bearer shop-token-0123456789abcdefghij', t0)).toEqual({ client: 'shop' });
    expect(access.admit('Bearer other-token-0123456789abcdefghi', t0 + 200)).toEqual({ client: 'other' });
    expect(access.admit('Bearer other-token-0123456789abcdefghi', t0 + 200)).toMatchObject({ status: 429 });
  });
});
