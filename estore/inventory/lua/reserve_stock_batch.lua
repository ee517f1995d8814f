-- reserve_stock.lua for each entry of a batch, in one script; each entry on its own.
-- KEYS: 1 expiry index, 2-5 stock sets, 6 events, then per entry its product and reservation.
-- ARGV: 1 now, then per entry: product id, reservation id, quantity, expires at.
-- Returns one reply per entry, in order, each as reserve_stock.lua's.
local sets = {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}
local replies = {}
for i = 1, (#ARGV - 1) / 4 do
  local a = 4 * i - 2
  replies[i] = reserve_hold(KEYS[5 + 2 * i], KEYS[6 + 2 * i], KEYS[1], sets, KEYS[6], ARGV[a],
    ARGV[a + 1], ARGV[a + 2], ARGV[1], ARGV[a + 3])
end
return replies
