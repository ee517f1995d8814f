-- Expire a bucket's held reservations that are due and give their stock back. Safe when several
-- sweepers run at once: a reservation that is no longer held (or not yet due) is left alone.
-- KEYS: 1 the bucket's expiry index, 2 its events, then (reservation, product) pairs.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms), then the reservation ids.
-- Returns the number of reservations this call expired.
local expired = 0
for i = 3, #ARGV do
  local res_key, product_key = KEYS[3 + 2 * (i - 3)], KEYS[4 + 2 * (i - 3)]
  local f = redis.call('HMGET', res_key, 'state', 'expires_at', 'quantity')
  if f[1] == 'HELD' then
    if tonumber(f[2]) <= tonumber(ARGV[1]) then
      give_back(res_key, ARGV[i], tonumber(f[3]), product_key, KEYS[2], KEYS[1], 'EXPIRED',
        'expire', ARGV[1], ARGV[2])
      expired = expired + 1
    end
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return expired
