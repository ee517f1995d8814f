-- reserve_stock.lua for each entry of a batch of one bucket, in one script; each on its own.
-- KEYS: 1 the bucket's expiry index, 2 its events, then per entry its product and reservation.
-- ARGV: 1 now, then per entry: product id, reservation id, quantity, expires at.
-- Returns one reply per entry, in order, each as reserve_stock.lua's.
local replies = {}
for i = 1, (#ARGV - 1) / 4 do
  local a = 4 * i - 2
  replies[i] = reserve_hold(KEYS[1 + 2 * i], KEYS[2 + 2 * i], KEYS[1], KEYS[2], ARGV[a],
    ARGV[a + 1], ARGV[a + 2], ARGV[1], ARGV[a + 3])
end
return replies
