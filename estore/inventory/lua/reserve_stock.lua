-- Hold units of a product for a reservation, atomically (reserve_hold in _stock.lua).
-- KEYS: 1 product, 2 reservation, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 product id, 2 reservation id, 3 quantity, 4 now, 5 expires at.
-- Returns {'OK', reservation} | {'EXISTING', reservation} | {'REUSED'} | {'NOT_FOUND'}
--   | {'INSUFFICIENT', available}.
return reserve_hold(KEYS[1], KEYS[2], KEYS[3], {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}, KEYS[8],
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
