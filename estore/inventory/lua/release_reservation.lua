-- Give a held reservation's units back (release_hold in _stock.lua).
-- KEYS: 1 reservation, 2 product, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms), 3 the product id the caller named
--       ('' if none: KEYS[2] is then the reservation's own product).
-- Returns {'OK' | 'COMMITTED', reservation} | {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
return release_hold(KEYS[1], KEYS[2], KEYS[3], {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}, KEYS[8],
  ARGV[1], ARGV[2], ARGV[3])
